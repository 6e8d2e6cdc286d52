"""The variables a workspace gives its jobs: set, unset, read back, and refused when bad (both
backends)."""

from __future__ import annotations

import pytest

from opcenter.errors import InvalidParameter
from opcenter.service import workspaces
from opcenter.service.context import ServiceContext
from opcenter.service.views import ProjectView
from opcenter.service.workspaces import JobVariable, get_job_env, set_job_env


def test_set_job_env_sets_and_unsets_given_names_and_values(
    ctx: ServiceContext, project: ProjectView
) -> None:
    ws = {"project_identifier": project.project_identifier}
    set_job_env(ctx, **ws, values={"TEAM_BUCKET": "s3://a", "lang_hint": "zh", "TZ": "UTC"})

    result = set_job_env(ctx, **ws, values={"TEAM_BUCKET": "s3://b=c"}, unset=["lang_hint", "X"])

    expected = (JobVariable("TEAM_BUCKET", "s3://b=c"), JobVariable("TZ", "UTC"))
    assert result == expected
    assert get_job_env(ctx, project_id=project.project_id) == expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("OPCENTER_INSTANCE_ID", "1", "Job variable name 'OPCENTER_INSTANCE_ID' is reserved."),
        ("opcenter_sql_url", "x", "Job variable name 'opcenter_sql_url' is reserved."),
        ("LD_PRELOAD", "/tmp/x.so", "Job variable name 'LD_PRELOAD' is reserved."),
        ("PATH", "/tmp", "Job variable name 'PATH' is reserved."),
        ("PYTHONPATH", "/tmp", "Job variable name 'PYTHONPATH' is reserved."),
        ("1ST", "x", "Job variable name '1ST' must be at most 128 letters"),
        ("A-B", "x", "Job variable name 'A-B' must be at most 128 letters"),
        ("", "x", "Job variable name '' must be at most 128 letters"),
        ("A", "x\0y", "Job variable 'A': a value is at most 4096 characters, without NUL."),
        ("A", "x" * 4097, "Job variable 'A': a value is at most 4096 characters"),
    ],
)
def test_set_job_env_refuses_and_changes_nothing_given_a_bad_variable(
    ctx: ServiceContext, project: ProjectView, name: str, value: str, message: str
) -> None:
    ws = {"project_id": project.project_id}
    set_job_env(ctx, **ws, values={"KEEP": "1"})

    with pytest.raises(InvalidParameter) as caught:
        set_job_env(ctx, **ws, values={"OTHER": "2", name: value})

    assert caught.value.message.startswith(message)
    assert get_job_env(ctx, **ws) == (JobVariable("KEEP", "1"),)


def test_set_job_env_refuses_given_one_name_set_and_unset(
    ctx: ServiceContext, project: ProjectView
) -> None:
    with pytest.raises(InvalidParameter, match="'A' is both set and unset"):
        set_job_env(ctx, project_id=project.project_id, values={"A": "1"}, unset=["A"])


def test_set_job_env_refuses_given_too_many_variables(
    ctx: ServiceContext, project: ProjectView
) -> None:
    many = {f"V{n}": "x" for n in range(workspaces.MAX_JOB_VARIABLES + 1)}
    with pytest.raises(InvalidParameter, match="at most 100 job variables"):
        set_job_env(ctx, project_id=project.project_id, values=many)
