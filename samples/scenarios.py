#!/usr/bin/env python3
"""Socket programs for the tcpmortem ground-truth captures: the command make-samples.sh runs.

make-samples.sh runs one role of a scenario in each network namespace of its topology:

    ip netns exec tmortem-srv python3 scenarios.py server SCENARIO FAMILY RUNDIR
    ip netns exec tmortem-cli python3 scenarios.py client SCENARIO FAMILY RUNDIR
    ip netns exec tmortem-rtr python3 scenarios.py router SCENARIO FAMILY RUNDIR   (routed,
                                                                                    distant)

The router's role starts first and creates "router-ready" once its firewall rules and sysctls
are in place. FAMILY is 4 or 6. The roles synchronise through empty files in RUNDIR (a fresh
directory per capture): the server creates "ready" once it listens, either side may create
further marks, the client creates "stop-capture" when a scenario must end while something is
still going on (open or idle at the end), and make-samples.sh creates "capture-stopped" once
tcpdump has stopped; any role still holding a socket waits for that mark before it closes, so
nothing after it is captured.

Other commands (plain Python, no namespaces needed):

    scenarios.py list                          scenario names
    scenarios.py topology SCENARIO             pair, routed or distant (lib/kit.py TOPOLOGIES)
    scenarios.py delays                        the distant topology's one-way delays in ms:
                                               client->router router->client router->server
                                               server->router
    scenarios.py truth SCENARIO FAMILY [VANTAGE [PROSE...]]
                                               the truth file of one capture, on stdout
                                               (VANTAGE client, server or router; PROSE: more
                                               comment lines, e.g. how it was captured)
    scenarios.py check SCENARIO FAMILY PCAP [VANTAGE]
                                               compare the capture with the truth: the same
                                               connections, and the packets the scenario must
                                               have produced (exit 3 = the capture did not show
                                               what the scenario needs, e.g. FINs that did not
                                               cross; make-samples.sh then retries)

Layout: lib/ is the shared kit (kit.py: addresses, marks, socket helpers, namespace knobs;
loops.py: role-parameterised loops; injector.py: the IPS reset injector; delay.py: the delay
line of the distant topology; registry.py: scenarios and their truth; wire.py: the capture
check), cases/ holds the scenarios, one module per family of endings. The truth of every
connection is written down next to the code that makes it happen: it comes from what the
programs did, never from an analyzer. Only the standard library is used. Per-namespace knobs
(sysctls under /proc/sys/net, iptables/ip6tables rules) are set by the role running in that
namespace, so they die with the namespace.
"""

import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cases  # noqa: E402,F401  (registers every scenario)
from lib.kit import DELAY_MS, ScenarioError, default_router  # noqa: E402
from lib.registry import SCENARIOS, VANTAGES, make_ctx, truth_text  # noqa: E402
from lib.wire import check  # noqa: E402


def main(argv):
    if len(argv) >= 1 and argv[0] == 'list':
        print('\n'.join(SCENARIOS))
        return 0
    if len(argv) == 1 and argv[0] == 'delays':
        print(' '.join(str(DELAY_MS[k]) for k in ('client_to_router', 'router_to_client',
                                                 'router_to_server', 'server_to_router')))
        return 0
    if len(argv) == 2 and argv[0] == 'topology':
        print(SCENARIOS[argv[1]].topology)
        return 0
    if len(argv) >= 3 and argv[0] == 'truth':
        vantage = argv[3] if len(argv) > 3 else 'client'
        if vantage not in VANTAGES:
            raise SystemExit('VANTAGE must be one of %s' % ', '.join(VANTAGES))
        sys.stdout.write(truth_text(argv[1], argv[2], vantage, argv[4:]))
        return 0
    if len(argv) in (4, 5) and argv[0] == 'check':
        problems = check(*argv[1:])
        for p in problems:
            print('check %s: %s' % (argv[1], p), file=sys.stderr)
        return 3 if problems else 0
    if len(argv) == 4 and argv[0] in ('server', 'client', 'router'):
        role, name, family, rundir = argv
        sc = SCENARIOS[name]
        ctx = make_ctx(name, family, rundir)
        try:
            getattr(sc, role, default_router)(ctx)
        except (ScenarioError, OSError) as e:
            where = traceback.extract_tb(e.__traceback__)[-1]
            print('%s %s: %r (%s line %d)' % (role, name, e, os.path.basename(where.filename),
                                              where.lineno), file=sys.stderr)
            return 1
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
