"""A small client for loads-runner's external-runner protocol (Loads' zmq-api).

Copy it beside your tests. loads-runner starts one process per virtual user
per step with the LOADS_* environment; this module reads it, runs your test
methods as many times (or for as long) as asked, times the requests you make
with `self.get(...)`, and pushes the results to the runner over ZeroMQ:

    from loads_client import TestCase, main

    class TestSite(TestCase):
        def test_home(self):
            response = self.get(self.server_url + '/')
            self.assertEqual(response.status, 200)

    if __name__ == '__main__':
        main()

Run it with: loads-runner --test-runner "python3 test_site.py {test}" test_site.TestSite.test_home -u 5 --hits 10
Needs pyzmq (Debian: apt-get install python3-zmq; elsewhere: pip install pyzmq).
"""
import datetime
import importlib
import json
import os
import sys
import time
import traceback
import unittest
import urllib.error
import urllib.request

import zmq


class Response:
    """What `TestCase.get` returns: the status, the headers and the body (bytes)."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode('utf-8', errors='replace')


class Reporter:
    """Pushes JSON messages to the runner's PULL socket (LOADS_ZMQ_RECEIVER)."""

    def __init__(self, environ=os.environ):
        self.agent_id = environ.get('LOADS_AGENT_ID', '')
        self.run_id = environ.get('LOADS_RUN_ID', '')
        self.total_users = int(environ.get('LOADS_TOTAL_USERS', '1'))
        self.current_user = int(environ.get('LOADS_CURRENT_USER', '1'))
        hits = environ.get('LOADS_TOTAL_HITS')
        duration = environ.get('LOADS_DURATION')
        self.total_hits = int(hits) if hits else None
        self.duration = float(duration) if duration else None
        self.current_hit = 0
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.PUSH)
        self._socket.connect(environ['LOADS_ZMQ_RECEIVER'])

    def status(self):
        return [self.total_hits or 0, self.total_users, self.current_hit, self.current_user]

    def send(self, data_type, **fields):
        fields['data_type'] = data_type
        fields['agent_id'] = self.agent_id
        fields['run_id'] = self.run_id
        fields.setdefault('loads_status', self.status())
        self._socket.send_string(json.dumps(fields))

    def close(self):
        # Wait (bounded) until every message reached the runner before exiting.
        self._socket.close(linger=5000)
        self._context.term()


def _exc_info_strings(exc_info):
    kind, value, tb = exc_info
    return [kind.__name__, str(value), ''.join(traceback.format_exception(kind, value, tb))]


class TestCase(unittest.TestCase):
    """A test class whose requests made with `self.get` are reported as hits."""

    reporter = None
    server_url = os.environ.get('LOADS_SERVER_URL', 'http://127.0.0.1:8080')

    def get(self, url, headers=None, timeout=30):
        return self.request('GET', url, headers=headers, timeout=timeout)

    def request(self, method, url, body=None, headers=None, timeout=30):
        started = datetime.datetime.now(datetime.timezone.utc)
        start = time.monotonic()
        request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        status, response_headers, data = 0, {}, b''
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, response_headers, data = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            status, response_headers, data = error.code, dict(error.headers), error.read()
        finally:
            self.reporter.send(
                'add_hit',
                url=url,
                method=method,
                status=status,
                started=started.isoformat(),
                elapsed=time.monotonic() - start,
            )
        return Response(status, response_headers, data)

    def incr_counter(self, name):
        self.reporter.send('incr_counter', test=self.id(), name=name)


class _Result(unittest.TestResult):
    """Turns unittest's callbacks into Loads messages."""

    def __init__(self, reporter, name):
        super().__init__()
        self.reporter = reporter
        self.name = name

    def startTest(self, test):
        super().startTest(test)
        self.reporter.send('startTest', test=self.name)

    def stopTest(self, test):
        super().stopTest(test)
        self.reporter.send('stopTest', test=self.name)

    def addSuccess(self, test):
        self.reporter.send('addSuccess', test=self.name)

    def addFailure(self, test, err):
        self.reporter.send('addFailure', test=self.name, exc_info=_exc_info_strings(err))

    def addError(self, test, err):
        self.reporter.send('addError', test=self.name, exc_info=_exc_info_strings(err))


def _load(fqn):
    """`module.Class.method` (or `module.Class`: all its test_ methods) -> test cases."""
    parts = fqn.split('.')
    for split in range(len(parts) - 1, 0, -1):
        try:
            module = importlib.import_module('.'.join(parts[:split]))
        except ImportError:
            continue
        rest = parts[split:]
        cls = getattr(module, rest[0])
        methods = rest[1:] or [m for m in dir(cls) if m.startswith('test')]
        return [(f'{cls.__name__}.{m}', cls, m) for m in methods]
    raise SystemExit(f'cannot import a module from {fqn!r}')


def main(argv=None):
    argv = sys.argv if argv is None else argv
    if len(argv) != 2:
        raise SystemExit(f'usage: {argv[0]} MODULE.Class[.method]')
    sys.path.insert(0, os.getcwd())
    tests = _load(argv[1])
    reporter = Reporter()
    TestCase.reporter = reporter
    deadline = None if reporter.duration is None else time.monotonic() + reporter.duration
    try:
        while True:
            if deadline is None and reporter.current_hit >= (reporter.total_hits or 1):
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            reporter.current_hit += 1
            for name, cls, method in tests:
                cls(method).run(_Result(reporter, name))
    finally:
        reporter.close()


if __name__ == '__main__':
    main()
