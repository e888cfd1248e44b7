"""Shipping samples between processes and sharing the schedule (in a child process: locust)."""

from __future__ import annotations

from ._snippets import run_snippet


def test_a_share_comes_back_from_its_message_unchanged() -> None:
    out = run_snippet(
        """
        from _distributed import Share

        share = Share(index=1, count=3, start=1700000000.25)
        assert Share.from_message(share.to_message()) == share
        assert Share.from_message({"index": "2", "count": 4.0, "start": 5}) == Share(2, 4, 5.0)
        print("ok")
        """
    )
    assert out.rstrip().endswith("ok")


def test_a_batch_that_could_not_be_sent_goes_out_with_the_next_flush() -> None:
    out = run_snippet(
        """
        from _distributed import Shipper
        from _recorder import Recorder
        from harness.core.samples import SAMPLE_DTYPE

        sent, fail = [], [True]

        def send(batch):
            if fail[0]:
                raise ConnectionError("socket closed")
            sent.append(batch)

        shipper = Shipper(Recorder(worker=2), send)
        for i in range(5):
            shipper.recorder.add("GET /health", float(i), float(i), 1.0, 200, True)
        try:
            shipper.flush()
        except ConnectionError:
            pass
        fail[0] = False
        shipper.flush()

        assert len(sent[0]["records"]) // SAMPLE_DTYPE.itemsize == 5
        assert sent[0]["total"] == 5 and sent[0]["worker"] == 2
        print("ok")
        """
    )
    assert out.rstrip().endswith("ok")


def test_finishing_sends_the_rest_then_a_final_batch_with_the_slots_handed_out() -> None:
    out = run_snippet(
        """
        from _distributed import Shipper
        from _recorder import Recorder

        sent = []
        shipper = Shipper(Recorder(), sent.append)
        shipper.start()
        shipper.recorder.add("GET /health", 1.0, 1.0, 1.0, 200, True)

        shipper.finish(slots=42)

        assert [b["final"] for b in sent][-2:] == [False, True]
        assert sent[-1]["slots"] == 42 and sent[-1]["total"] == 1
        assert "slots" not in sent[-2]
        shipper.finish(slots=None)  # a second request to flush (the master's) answers again
        assert sent[-1]["final"] and "slots" not in sent[-1]
        print("ok")
        """
    )
    assert out.rstrip().endswith("ok")
