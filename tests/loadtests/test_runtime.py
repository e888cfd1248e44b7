"""The Locust glue, exercised in a child process (importing locust monkey-patches the process)."""

from __future__ import annotations

from ._snippets import run_snippet


def test_every_step_sends_exactly_one_request() -> None:
    # one step = one open-model slot: a second request would exceed the schedule's rate and
    # carry no intended start (a delete with nothing to delete creates; a lost token logs in)
    out = run_snippet(
        """
        from _journeys import STEPS, PrimoUser

        TASK = {"id": "t1", "title": "x", "status": "todo", "priority": "low", "tags": []}

        class Probe(PrimoUser):
            abstract = True

            def __init__(self, auth, known, own, cursor):
                self.email, self.auth, self.page_params = "u@x", auth, {}
                self.known_ids, self.own_ids, self.cursor = known, own, cursor
                self.intended, self.sent, self.account = None, [], None

            def call(self, method, path, name, expect, check=None, json=None, auth=True):
                self.sent.append(f"{method} {name}")
                if name == "/api/auth/login":
                    self.auth = {"Authorization": "Bearer t"}
                    return {"access_token": "t", "token_type": "bearer"}
                if method == "POST":
                    return dict(TASK, **json)
                if method == "GET":
                    return {"items": [], "next_cursor": None}
                return True

        for endpoint, step in STEPS.items():
            for auth in ({}, {"Authorization": "Bearer t"}):
                for known, own, cursor in (([], [], None), (["k1"], ["o1"], "c1")):
                    probe = Probe(dict(auth), list(known), list(own), cursor)
                    step(probe)
                    print(endpoint, bool(auth), bool(known), probe.sent)
                    assert len(probe.sent) == 1, (endpoint, auth, known, probe.sent)
                    if auth and known:  # ready: the step's own request
                        assert probe.sent == [endpoint], (endpoint, probe.sent)
        print("ok")
        """
    )
    assert out.rstrip().endswith("ok")


def test_stopping_the_flusher_mid_send_loses_no_record() -> None:
    # The final flush used to kill the periodic flusher, possibly inside send_message after
    # it had drained the buffer: that batch was lost.
    out = run_snippet(
        """
        import tempfile
        from types import SimpleNamespace

        import gevent
        import gevent.event
        import _distributed
        import _runtime
        from _runtime import RUN
        from harness.core.samples import SAMPLE_DTYPE

        class SlowRunner:
            worker_index = 0

            def __init__(self):
                self.received = []
                self.in_send = gevent.event.Event()

            def send_message(self, kind, data=None, client_id=None):
                self.in_send.set()
                gevent.sleep(0.3)  # a slow socket
                self.received.append(data)

        _distributed.FLUSH_INTERVAL_S = 0.05
        runner = SlowRunner()
        options = SimpleNamespace(samples_dir=tempfile.mkdtemp())
        RUN.role = "worker"
        _runtime._test_start(SimpleNamespace(runner=runner, parsed_options=options, host=None))
        for i in range(7):
            RUN.shipper.recorder.add("GET /health", float(i), float(i), 1.0, 200, True)
        runner.in_send.clear()
        assert runner.in_send.wait(5)  # the flusher drained all 7 records and is sending them
        _runtime._worker_final(runner)

        sent = sum(len(b["records"]) for b in runner.received) // SAMPLE_DTYPE.itemsize
        final = [b for b in runner.received if b["final"]]
        print(sent, final[-1]["total"])
        assert sent == final[-1]["total"] == 7
        print("ok")
        """
    )
    assert out.rstrip().endswith("ok")
