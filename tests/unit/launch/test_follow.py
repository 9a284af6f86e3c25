"""Following tasks with botocore Stubber, for the states moto cannot reach: exit codes, tasks that never started,
Ctrl-C, the timeout, AWS trouble during a long follow, fleets of more than 100 tasks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from stream_rerun.errors import EXIT_INTERRUPTED, EXIT_TIMEOUT
from tests.unit.launch.support import TASK_ARN, client, follower


def stopped(arn: str = TASK_ARN, code: int | None = 0, **more: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "worker", **({"exitCode": code} if code is not None else {})}
    return {"taskArn": arn, "lastStatus": "STOPPED", "containers": [container], **more}


def running(arn: str = TASK_ARN) -> dict[str, Any]:
    return {"taskArn": arn, "lastStatus": "RUNNING", "containers": [{"name": "worker"}]}


def quiet_logs(polls: int) -> Any:
    logs = client("logs")
    stub = Stubber(logs)
    for _ in range(polls):
        stub.add_client_error("filter_log_events", "ResourceNotFoundException")
    stub.activate()
    return logs


@pytest.mark.parametrize("exit_code", [0, 1, 2, 143])
def test_exit_code_is_the_containers(exit_code: int) -> None:
    ecs = client("ecs")
    stub = Stubber(ecs)
    for task in (running(), running(), stopped(code=exit_code)):
        stub.add_response(
            "describe_tasks", {"tasks": [task]}, {"cluster": ANY, "tasks": [TASK_ARN], "include": ["TAGS"]}
        )
    with stub:
        assert follower(ecs, quiet_logs(3)).follow([TASK_ARN]) == exit_code
        stub.assert_no_pending_responses()


def test_task_that_never_started_is_a_failure_with_its_reason() -> None:
    ecs = client("ecs")
    stub = Stubber(ecs)
    reason = "CannotPullContainerError: pull image manifest has been retried 5 time(s)"
    never = stopped(code=None, stopCode="TaskFailedToStart", stoppedReason=reason)
    stub.add_response("describe_tasks", {"tasks": [never]})
    lines: list[str] = []
    with stub:
        assert follower(ecs, quiet_logs(1), lines).follow([TASK_ARN]) == 1
    said = next(x for x in lines if "stopCode" in x)
    assert "stopCode=TaskFailedToStart" in said and "CannotPullContainerError" in said
    assert lines[-1].startswith("Run ?: NOT done")


def test_an_exit_code_comes_with_what_ecs_said_about_the_stop() -> None:
    ecs = client("ecs")
    stub = Stubber(ecs)
    oom = stopped(code=137, stopCode="EssentialContainerExited", stoppedReason="Essential container in task exited")
    oom["containers"][0]["reason"] = "OutOfMemoryError: Container killed due to memory usage"
    stub.add_response("describe_tasks", {"tasks": [oom]})
    lines: list[str] = []
    with stub:
        assert follower(ecs, quiet_logs(1), lines).follow([TASK_ARN]) == 137
    said = next(x for x in lines if "exit code 137" in x)
    assert "stopCode=EssentialContainerExited" in said and "Essential container in task exited" in said
    assert "OutOfMemoryError" in said


def test_a_task_spot_reclaimed_says_how_to_resume() -> None:
    ecs = client("ecs")
    stub = Stubber(ecs)
    reclaimed = stopped(code=143, stopCode="SpotInterruption", stoppedReason="Your Spot Task was interrupted.",
                        tags=[{"key": "run-id", "value": "r-42"}])  # fmt: skip
    stub.add_response("describe_tasks", {"tasks": [reclaimed]})
    lines: list[str] = []
    with stub:
        assert follower(ecs, quiet_logs(1), lines).follow([TASK_ARN]) == 143
    said = next(x for x in lines if "exit code 143" in x)
    assert "stopCode=SpotInterruption" in said
    assert "reclaimed by Spot: resume with --attach r-42" in said and "rerun with RUN_ID=r-42" in said


def test_following_a_fleet_fails_if_one_task_fails_and_adds_up_summaries() -> None:
    arns = [f"{TASK_ARN}{i}" for i in range(3)]
    ecs = client("ecs")
    stub = Stubber(ecs)
    stub.add_response("describe_tasks", {"tasks": [stopped(a, c) for a, c in zip(arns, (0, 1, 0), strict=True)]})
    logs = client("logs")
    log_stub = Stubber(logs)
    events = []
    for i, (touched, failed) in enumerate(((10, 0), (7, 3), (12, 0))):
        line = {"event": "summary", "message": "summary", "selected": touched + failed, "touched": touched,
                "failed": failed}  # fmt: skip
        stream = f"rerun/worker/{arns[i].rsplit('/', 1)[-1]}"
        events.append({"logStreamName": stream, "eventId": str(i), "timestamp": i, "message": json.dumps(line)})
    log_stub.add_response("filter_log_events", {"events": events})  # one call for the whole fleet
    lines: list[str] = []
    with stub, log_stub:
        code = follower(ecs, logs, lines).follow(arns)
    assert code == 1
    block = lines[-1].splitlines()
    assert block[0].endswith("NOT done")
    assert [x.split() for x in block[1:4]] == [["selected", "32"], ["touched", "29"], ["already_done", "0"]]
    assert "  failed                  3" in block and "exit codes 0, 1, 0" in lines[-1]
    assert "3 (3 printed a summary)" in lines[-1] and "same RUN_ID" in lines[-1]
    assert "[w1] task stopped: container exit code 1" in lines


def test_more_than_a_hundred_tasks_are_described_a_hundred_at_a_time() -> None:
    arns = [f"{TASK_ARN}-{i:03}" for i in range(150)]
    ecs = client("ecs")
    stub = Stubber(ecs)
    stub.add_response(
        "describe_tasks",
        {"tasks": [stopped(a) for a in arns[:100]]},
        {"cluster": ANY, "tasks": arns[:100], "include": ["TAGS"]},
    )
    stub.add_response(
        "describe_tasks",
        {"tasks": [stopped(a) for a in arns[100:]]},
        {"cluster": ANY, "tasks": arns[100:], "include": ["TAGS"]},
    )
    with stub:
        assert follower(ecs, quiet_logs(150)).follow(arns) == 0
        stub.assert_no_pending_responses()


def test_transient_aws_errors_during_a_follow_are_ridden_out() -> None:
    ecs = client("ecs")
    stub = Stubber(ecs)
    stub.add_client_error("describe_tasks", "ThrottlingException", http_status_code=400)
    stub.add_client_error("describe_tasks", "ServerException", http_status_code=500)
    stub.add_response("describe_tasks", {"tasks": [stopped(code=0)]})
    with stub:
        assert follower(ecs, quiet_logs(1)).follow([TASK_ARN]) == 0
        stub.assert_no_pending_responses()


def test_repeated_aws_errors_detach_with_the_re_attach_hint() -> None:
    ecs = client("ecs")
    stub = Stubber(ecs)
    for _ in range(8):
        stub.add_client_error("describe_tasks", "ThrottlingException", http_status_code=400)
    lines: list[str] = []
    with stub:
        assert follower(ecs, quiet_logs(0), lines).follow([TASK_ARN]) == EXIT_TIMEOUT
    assert "the tasks keep running" in lines[-1] and "--attach" in lines[-1] and TASK_ARN in lines[-1]


def test_timeout_has_its_own_exit_code_and_names_every_task() -> None:
    arns = [f"{TASK_ARN}{i}" for i in range(2)]
    ecs = client("ecs")
    stub = Stubber(ecs)
    stub.add_response("describe_tasks", {"tasks": [running(a) for a in arns]})
    lines: list[str] = []
    with stub:
        assert follower(ecs, quiet_logs(2), lines, timeout=-1.0).follow(arns) == EXIT_TIMEOUT
    assert "2 task(s) still running" in lines[-1] and all(a in lines[-1] for a in arns)


@pytest.mark.parametrize("stop", [False, True])
def test_ctrl_c_leaves_the_task_running_or_stops_it(stop: bool) -> None:
    ecs = client("ecs")
    stub = Stubber(ecs)
    if stop:
        stub.add_response("stop_task", {}, {"cluster": ANY, "task": TASK_ARN, "reason": "stopped by operator (Ctrl-C)"})
        stub.add_response("describe_tasks", {"tasks": [stopped(code=143)]})
    lines: list[str] = []
    follow = follower(ecs, quiet_logs(1), lines, stop_on_interrupt=stop)
    calls = []
    describe = follow.fleet.describe

    def interrupted_once(arns: list[str]) -> Any:
        calls.append(arns)
        if len(calls) == 1:
            raise KeyboardInterrupt  # the operator presses Ctrl-C while the launcher waits
        return describe(arns)

    follow.fleet.describe = interrupted_once  # type: ignore[method-assign]
    with stub:
        code = follow.follow([TASK_ARN])
        stub.assert_no_pending_responses()
    if stop:
        assert code == 143 and any("stopping the task" in x for x in lines)
    else:
        assert code == EXIT_INTERRUPTED and "keep running" in lines[-1] and TASK_ARN in lines[-1]
