"""The benchmarks run end to end on the real stack with a handful of reports: they print their figures
and write JSON that parses. Timings are printed, never asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SERVICES = {"intake", "assessment", "referral", "followup", "audit", "casework"}


def _bench(infra, tmp_path, *arguments: str) -> tuple[str, dict]:
    env = {
        **os.environ,
        "CPNET_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "CPNET_DATABASE_URL": infra.database_url,
    }
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, "-m", "cpnet.cli", "bench", *arguments, "--json", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=800,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, json.loads(out.read_text())


def test_the_pipeline_bench_follows_every_report_to_its_visit_plan_and_the_ledger(infra, tmp_path):
    table, figures = _bench(
        infra, tmp_path, "pipeline", "--reports", "20", "--baseline", "--idle-window-s", "1"
    )

    for figure in (
        "end to end",
        "followup planned all",
        "ledger caught up",
        "referral.to.police",
        "peak RSS",
        "CPU per report",
        "PostgreSQL",
        "Kafka broker",
        "whole machine",
        "transactions per report",
        "rows inserted per report",
        "pipeline as a share",
        "whole journey",
        "judged: the whole journey as a share of it",
    ):
        assert figure in table, figure
    assert figures["reports"] == 20 and figures["refused"] == 0
    # The journey ends when the last of planning, casework and the ledger caught up.
    stages = figures["stage_finished_s"]
    assert figures["journey_s"] == max(
        stages["followup planned all"], stages["ledger caught up"], stages["casework caught up"]
    )
    assert figures["baseline"]["journey_percent"] <= figures["baseline"]["pipeline_percent"]
    assert figures["latency_s"]["assessed"]["count"] == 20  # every report was graded, and timed
    assert figures["reports_per_s"] > 0 and figures["baseline"]["messages"] == 20
    assert set(figures["peak_rss_mb"]) == SERVICES
    assert all(mb and mb > 0 for mb in figures["peak_rss_mb"].values())
    assert figures["database"]["rows_inserted"] > 0
    cpu = figures["cpu_ms_per_report"]
    assert all(
        cpu[name] > 0 for name in ("intake", "assessment", "referral", "followup", "audit", "whole machine")
    )


def test_the_http_bench_posts_every_report_at_each_concurrency(infra, tmp_path):
    table, figures = _bench(infra, tmp_path, "intake-http", "--requests", "10", "--concurrency", "2,4")

    assert "concurrency 2" in table and "concurrency 4" in table and "req/s" in table
    assert [level["concurrency"] for level in figures["levels"]] == [2, 4]
    assert figures["reporters"] > 1, "many reporters, each with a subject of their own"
    for level in figures["levels"]:
        assert level["statuses"] == {"202": 10}
        assert level["latency_s"]["count"] == 10
        assert level["intake_peak_rss_mb"] > 0
    # The highest level against intake alone first (the benchmark started the others after it).
    alone = figures["alone"]
    assert alone["concurrency"] == 4 and alone["statuses"] == {"202": 10}
    assert figures["share_of_alone"] == figures["levels"][-1]["requests_per_s"] / alone["requests_per_s"]
    assert "judged: with every service ÷ intake alone" in table
    assert set(figures["peak_rss_mb"]) == SERVICES


def test_the_during_import_bench_times_live_reports_while_a_survey_is_imported(infra, tmp_path):
    table, figures = _bench(infra, tmp_path, "during-import", "--rows", "300", "--idle-s", "3")

    for figure in (
        "import rate",
        "through intake after",
        "red → referral.to.police",
        "all → case.assessed",
        "every consumer caught up",
        "the import",
    ):
        assert figure in table, figure
    survey, live, latency = figures["survey"], figures["live"], figures["latency_s"]
    assert survey["rows_stored_by_intake"] == 300  # the survey went in whole, through the user's command
    assert 0 < survey["rows_with_difficulty"] < 300 and survey["rows_named_by_live_reports"] >= 1
    assert figures["import"]["rows_per_s"] > 0 and figures["import"]["peak_rss_mb"] > 0
    assert live["sent"] > 0 and live["refused"] == 0
    assert latency["assessed"]["count"] == live["sent"]  # every live report was graded, and timed
    assert 0 < latency["police_red"]["count"] <= live["red"] <= live["sent"]
    assert latency["police_red"]["max"] >= latency["police_red"]["p50"] > 0
    # The same live reports on the idle system first, timed apart, and the ratio of the two.
    idle = figures["idle"]["latency_s"]["police_red"]
    assert figures["idle"]["sent"] == 3 * 20 and 0 < idle["count"] <= figures["idle"]["sent"]
    assert figures["red_p99_ratio"] == latency["police_red"]["p99"] / idle["p99"]
    # The judged ratio is the emergencies' alone (a child in immediate danger: the urgent lanes' work).
    emergency, emergency_idle = latency["police_emergency"], figures["idle"]["latency_s"]["police_emergency"]
    assert 0 < emergency["count"] <= min(live["immediate_danger"], latency["police_red"]["count"])
    assert 0 < emergency_idle["count"] <= idle["count"]
    assert figures["p99_ratio"] == emergency["p99"] / emergency_idle["p99"]
    assert "judged: immediate danger → police, during ÷ idle" in table
    assert set(figures["peak_rss_mb"]) == SERVICES


def test_the_surge_bench_times_emergencies_idle_and_after_a_burst_and_prints_their_ratio(infra, tmp_path):
    table, figures = _bench(infra, tmp_path, "surge", "--burst", "200", "--emergencies", "6", "--rate", "20")

    for figure in (
        "idle p99",
        "after the burst p99",
        "judged: after the burst ÷ idle",
        "every consumer caught up",
    ):
        assert figure in table, figure
    idle, busy = figures["police_s"]["idle"], figures["police_s"]["under_load"]
    # Every emergency of each phase reached the police, and was timed.
    assert idle["count"] == figures["emergencies"]["idle"] > 0
    assert busy["count"] == figures["emergencies"]["under_load"] > 0
    assert figures["p99_ratio"] == busy["p99"] / idle["p99"]


def test_the_resume_bench_kills_an_xlsx_import_resumes_it_and_counts_what_intake_kept(infra, tmp_path):
    table, figures = _bench(infra, tmp_path, "import-resume", "--rows", "1000", "--bad-share", "0.05")

    for figure in (
        "killed with SIGKILL",
        "said where it resumed",
        "good rows missing",
        "duplicates",
        "bad rows not listed",
        "the same file imported again",
    ):
        assert figure in table, figure
    assert 3 <= figures["confirmed_when_killed"] < 1002, "killed part-way"
    assert figures["said_it_resumed"] and figures["exit_code"] == 2
    assert figures["bad_rows"] > 0 and figures["good_rows_missing"] == 0
    assert figures["kept"]["screenings"] == figures["good_rows"]
    assert set(figures["duplicates"].values()) == {0}
    assert figures["error_file"] == {
        "rows": figures["bad_rows"],
        "bad_rows_missing": 0,
        "good_rows_listed": 0,
    }
    assert set(figures["created_by_second_import"].values()) == {0}


def test_the_worklist_bench_times_each_kind_of_query_and_leaves_no_case_behind(infra, tmp_path):
    table, figures = _bench(infra, tmp_path, "worklist", "--cases", "2000", "--queries", "3")

    assert "caseworker: my cases" in table and "20 pages deep" in table and "slowest p95" in table
    assert figures["cases"] == 2000 and figures["cases_in_table"] >= 2000
    kinds = figures["latency_s"]
    assert len(kinds) == 6 and all(kinds[k]["count"] >= 1 for k in kinds)
    assert all(kinds[k]["count"] == 3 for k in figures["rows"])
    assert figures["rows"]["city supervisor: unassigned"] > 0, "a realistic table has unassigned cases"
    _, second = _bench(infra, tmp_path, "worklist", "--cases", "1", "--queries", "1")
    assert second["cases_in_table"] <= figures["cases_in_table"] - 1999, (
        "the benchmark deletes the cases it wrote"
    )


def test_the_board_bench_times_the_consoles_board_as_a_signed_in_supervisor(infra, tmp_path):
    table, figures = _bench(infra, tmp_path, "board", "--cases", "500", "--queries", "3")

    assert "the city's open cases" in table and "slowest p95 of any board" in table
    assert figures["cases"] == 500 and figures["cases_in_table"] >= 500
    assert all(latency["count"] == 3 for latency in figures["latency_s"].values())
    assert all(size > 5000 for size in figures["bytes"].values()), "a whole board page each time"
    _, second = _bench(infra, tmp_path, "board", "--cases", "1", "--queries", "1")
    assert second["cases_in_table"] <= figures["cases_in_table"] - 499, (
        "the benchmark deletes the cases it wrote"
    )


def test_the_ledger_bench_appends_a_backlog_with_one_audit_instance_then_two(infra, tmp_path):
    table, figures = _bench(infra, tmp_path, "ledger", "--messages", "400")

    for figure in ("one audit instance", "two audit instances", "judged: two ÷ one"):
        assert figure in table, figure
    # Every message of each round is on the ledger once: two instances lost none and doubled none.
    assert figures["one"]["entries"] == figures["two"]["entries"] == 400
    one, two = figures["one"]["entries_per_s"], figures["two"]["entries_per_s"]
    assert figures["two_over_one"] == round(two / one, 2)
