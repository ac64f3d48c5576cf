"""The scenario registry and the truth each scenario declares.

A scenario is a class with a role method per namespace (server(ctx), client(ctx), and for a
routed or distant topology router(ctx)) and a docstring saying what the programs do,
registered with @scenario(...) together with its truth: one Conn per connection, in the order
the client opens them. truth_text() turns that into the truth file of one capture
(tests/lib/truthfile.py holds the format).
"""

import inspect
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..',
                                'tests', 'lib'))
import truthfile  # noqa: E402

from lib.kit import DEFAULT_TIMERS, DELAY_MS, PORT, Ctx  # noqa: E402

SCENARIOS = {}
FIRST_PORT = 40001  # the client port of a scenario's first connection
VANTAGES = ('client', 'server', 'router')


class Conn:
    """The truth about one connection: the client's port, the class, the closer, the modifiers
    that must be present, the expected close.detail and further expected diagnoses (facts: KEY
    -> VALUE, checked by tests/e2e/check_samples.py). `at` overrides any of these for one
    vantage point ({'server': {'cls': 'idle_at_end', 'closer': 'none', 'facts': {}}}): a
    capture point that does not see an ending cannot be asked to report it (its facts replace
    the common ones). A row with cls None at a vantage is a connection that capture point never
    sees."""

    def __init__(self, port, cls, closer, modifiers=(), detail=None, facts=None,
                 server_port=PORT, at=None):
        self.port, self.server_port = port, server_port
        self.cls, self.closer = cls, closer
        self.modifiers, self.detail = tuple(modifiers), detail
        self.facts = dict(facts or {})
        self.at = dict(at or {})
        for vantage, override in self.at.items():
            if vantage not in VANTAGES or set(override) - {'cls', 'closer', 'modifiers',
                                                          'detail', 'facts'}:
                raise ValueError('bad override %r: %r' % (vantage, override))

    def seen_from(self, vantage):
        """(cls, closer, modifiers, detail, facts) as the capture at `vantage` must report
        them."""
        over = self.at.get(vantage, {})
        facts = dict(over.get('facts', self.facts))
        return (over.get('cls', self.cls), over.get('closer', self.closer),
                tuple(over.get('modifiers', self.modifiers)), over.get('detail', self.detail),
                facts)


def conns(cls, *closers, **common):
    """The truth of connections from client ports 40001, 40002, ... in turn, all of class `cls`:
    one Conn per closer, each with the same further fields (`common`)."""
    return [Conn(FIRST_PORT + i, cls, closer, **common) for i, closer in enumerate(closers)]


def scenario(name, truth, topology='pair', options='', doc_args=None):
    """Register a scenario: its name, its truth (a list of Conn), its topology (kit.TOPOLOGIES)
    and the tcpmortem options its captures must be read with. What the programs do is the
    class's docstring, white space folded (with doc_args: formatted with them, for the numbers
    the code defines). The class is a namespace, never instantiated: its plain functions and
    its bases' (the roles server(ctx), client(ctx), router(ctx), extra_check(...) and their
    helpers) become static methods here; its classmethods stay as they are."""
    def register(cls):
        if name in SCENARIOS:
            raise ValueError('scenario %s registered twice' % name)
        for klass in cls.__mro__[:-1]:     # its own and its bases' (not object's)
            for key, value in list(vars(klass).items()):
                if inspect.isfunction(value):
                    setattr(klass, key, staticmethod(value))
        SCENARIOS[name] = cls
        cls.name = name
        cls.description = ' '.join(cls.__doc__.split())
        if doc_args is not None:
            cls.description %= doc_args
        cls.truth = list(truth)
        cls.topology = topology
        cls.options = options
        return cls
    return register


def round_trips(vantage):
    """(to the client, to the server): the round trips in ms from a capture point of the distant
    topology (the delay lines' sum; the veth links add some 30 µs)."""
    d = DELAY_MS
    client_router = d['client_to_router'] + d['router_to_client']
    router_server = d['router_to_server'] + d['server_to_router']
    return {'client': (0, client_router + router_server),
            'router': (client_router, router_server),
            'server': (client_router + router_server, 0)}[vantage]


def timers_held(client=None, server=None):
    """The value of a `timers_hold` fact: every timer setting in force on each side, the Linux
    defaults (kit.DEFAULT_TIMERS) but for those given ({'tcp_fin_timeout': 2})."""
    items = []
    for side, changed in (('client', client or {}), ('server', server or {})):
        if set(changed) - set(DEFAULT_TIMERS):
            raise ValueError('unknown timer setting in %r' % changed)
        for key, default in DEFAULT_TIMERS.items():
            items.append('%s.%s=%g' % (side, key, changed.get(key, default)))
    return ','.join(items)


def make_ctx(name, family, rundir=None):
    return Ctx(family, rundir, topology=SCENARIOS[name].topology)


def truth_text(name, family, vantage='client', prose=()):
    """The truth file of the capture of scenario `name` (IPv`family`) taken at `vantage`."""
    sc = SCENARIOS[name]
    ctx = make_ctx(name, family)
    rows = []
    for conn in sc.truth:
        cls, closer, mods, detail, facts = conn.seen_from(vantage)
        if cls is None:
            continue
        rows.append({'client': ctx.endpoint(ctx.client_ip, conn.port),
                     'server': ctx.endpoint(ctx.server_ip, conn.server_port),
                     'class': cls, 'closer': closer, 'modifiers': mods, 'detail': detail,
                     'facts': facts})
    capture = {'scenario': name, 'family': family, 'vantage': vantage,
               'options': sc.options}
    if sc.topology == 'distant':
        capture['rtt_ms'] = 'client=%g,server=%g' % round_trips(vantage)
    head = ['scenario %s, IPv%s: %s' % (name, family, sc.description)] + list(prose)
    return truthfile.format_truth(head, capture, rows)
