"""Fixtures for the authoring service tests: a STANDARD and a BASIC workspace with a workflow."""

from __future__ import annotations

import pytest

from opcenter.service import workflows, workspaces
from opcenter.service.context import ServiceContext
from opcenter.service.views import BusinessView, ProjectView


@pytest.fixture
def project(ctx: ServiceContext) -> ProjectView:
    return workspaces.create_project(
        ctx, project_identifier="demo", project_name="Demo", project_mode="STANDARD"
    )


@pytest.fixture
def basic_project(ctx: ServiceContext) -> ProjectView:
    return workspaces.create_project(
        ctx, project_identifier="lite", project_name="Lite", project_mode="BASIC"
    )


@pytest.fixture
def flow(ctx: ServiceContext, project: ProjectView) -> BusinessView:
    return workflows.create_business(
        ctx, project_id=project.project_id, business_name="sales", parameters="region=cn"
    )


@pytest.fixture
def basic_flow(ctx: ServiceContext, basic_project: ProjectView) -> BusinessView:
    return workflows.create_business(
        ctx, project_id=basic_project.project_id, business_name="sales"
    )
