/* store_suite.h - the flow store a runner's tests share, made and freed by the suite that uses it
 * (the init and cleanup of its CU_SuiteInfo). */
#ifndef TM_TESTS_STORE_SUITE_H
#define TM_TESTS_STORE_SUITE_H

#include "live_flow.h"

static struct flow_store store;

static inline int store_suite_init(void)
{
	flow_store_init(&store);
	return 0;
}

static inline int store_suite_clean(void)
{
	flow_store_destroy(&store);
	return 0;
}

#endif
