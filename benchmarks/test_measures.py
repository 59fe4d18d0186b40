"""Checks of the benchmarks' own measuring tools: ``pytest benchmarks``.

Not part of ``tests/`` (the library's suite): these guard the figures, not the library.
"""

from __future__ import annotations

import pytest

from benchmarks import harness
from benchmarks.bench_api import parse_wrk
from benchmarks.bench_load import parse_stats
from benchmarks.wer import normalize, number_words, word_error_rate

# Real output of wrk 4.1.0 with --latency, plus the line it adds for error statuses.
WRK_OUTPUT = """\
Running 1s test @ http://127.0.0.1:8799/
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.38ms    3.74ms  26.80ms   89.09%
    Req/Sec   718.50    195.16     1.19k    80.00%
  Latency Distribution
     50%  850.00us
     75%    4.60ms
     90%    7.26ms
     99%    1.02s
  719 requests in 1.01s, 779.38KB read
  Non-2xx or 3xx responses: 12
Requests/sec:    711.39
Transfer/sec:    771.14KB
"""


def test_wer_keeps_accented_words_whole():
    # The multilingual benchmark's references: "fährt" is one word, not "f" + "hrt".
    assert normalize("Der Zug fährt, n'oubliez pas: não!") == [
        "der", "zug", "fährt", "n'oubliez", "pas", "não",
    ]  # fmt: skip
    assert word_error_rate("schließen", "schliessen") == 1.0


def test_wer_counts_substitutions_deletions_and_insertions():
    assert word_error_rate("the cat sat", "the cat sat") == 0.0
    assert word_error_rate("the cat sat", "the bat sat") == pytest.approx(1 / 3)
    assert word_error_rate("the cat sat", "the sat") == pytest.approx(1 / 3)
    assert word_error_rate("the cat sat", "the cat sat down here") == pytest.approx(2 / 3)


def test_wer_ignores_case_punctuation_and_digits_versus_words():
    reference = "The meeting will start at nine o'clock."
    assert word_error_rate(reference, "the meeting will start at 9 o'clock") == 0.0
    assert normalize("1,200 cats, 21 dogs") == [
        "one", "thousand", "two", "hundred", "cats", "twenty", "one", "dogs",
    ]  # fmt: skip
    assert number_words(305) == ["three", "hundred", "five"]


def test_wer_needs_a_reference():
    with pytest.raises(ValueError, match="no words"):
        word_error_rate(" ... ", "anything")


def test_parse_wrk_reads_rate_percentiles_in_ms_and_errors():
    result = parse_wrk(WRK_OUTPUT)
    assert result["requests_per_second"] == 711.4
    assert result["p50_ms"] == 0.85
    assert result["p99_ms"] == 1020.0
    assert result["requests"] == 719
    assert result["non_2xx"] == 12


def test_parse_wrk_rejects_unexpected_output():
    with pytest.raises(harness.BenchmarkError, match="wrk output"):
        parse_wrk("connection refused")


def test_speech_file_has_the_exact_length_and_whole_copies(tmp_path):
    import av

    path, reference = harness.speech_file(tmp_path / "two-minutes.flac", 120)
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
    assert samples == 120 * harness.RATE
    assert reference == " ".join([harness.SAMPLE_TEXT] * 3)  # 3 x 36.2 s + pauses


# The columns of locust 2.x's ``--csv`` statistics (two request names and the total).
LOCUST_STATS = """\
Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,\
Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,\
75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%
GET,list,1142,0,5000,4890.2,120.5,10291.1,2190.0,17.71,0.0,5000,5900,6400,6800,\
7800,8700,9400,9900,10000,10000,10000
POST,upload,263,2,5600,5502.7,300.1,10693.5,900.0,4.08,0.03,5600,6500,7000,7300,\
8500,9600,10000,11000,11000,11000,11000
,Aggregated,1405,2,5100,4998.0,120.5,10693.5,1949.1,21.79,0.03,5100,6000,6500,6900,\
7900,8900,9600,9900,11000,11000,11000
"""


def test_parse_locust_stats(tmp_path) -> None:
    path = tmp_path / "locust_stats.csv"
    path.write_text(LOCUST_STATS)
    figures = parse_stats(path)
    assert set(figures) == {"list", "upload", "Aggregated"}
    assert figures["Aggregated"] == {
        "requests": 1405,
        "errors": 2,
        "requests_per_second": 21.8,
        "p50_ms": 5100.0,
        "p99_ms": 9900.0,
        "max_ms": 10693.5,
    }
    assert figures["upload"]["errors"] == 2


def test_parse_locust_stats_needs_the_total(tmp_path) -> None:
    path = tmp_path / "locust_stats.csv"
    path.write_text(LOCUST_STATS.rsplit(",Aggregated", 1)[0])
    with pytest.raises(harness.BenchmarkError):
        parse_stats(path)


def test_cpu_api_reads_a_process_cpu_time_and_survives_a_vanished_one() -> None:
    import math
    import os

    from benchmarks.cpu_api import _proc_cpu

    sum(i * i for i in range(200_000))  # some CPU of our own
    assert _proc_cpu(os.getpid()) > 0
    assert math.isnan(_proc_cpu(2**22 + 12345))  # above pid_max: no such process


def test_paced_wrk_offers_the_rate_whatever_the_server_takes(tmp_path) -> None:
    """The paced script holds wrk to its schedule: a server that answers at once gets
    the offered rate, not the rate 32 eager connections would send (thousands a second)."""
    import shutil
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from benchmarks import bench_api

    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed")

    class Answer(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # kept-alive connections, as gunicorn's
        disable_nagle_algorithm = True  # the body is not held back behind the headers

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 64  # 32 connections at once (the default backlog is 5)

    server = Server(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        figures = bench_api.paced({"bare": url}, "token", 2, tmp_path, rate=50)
    finally:
        server.shutdown()
        server.server_close()
    served = figures["bare"]["requests_per_second"]
    assert 40 <= served <= 55, served
    assert figures["bare"]["sustained"] == (served >= 0.95 * 50)
    assert figures["offered_per_second"] == 50
