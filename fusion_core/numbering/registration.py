"""What numbering registers through the core's hooks (see fusion_core.builtin)."""

from __future__ import annotations

from fusion_core.events import EventType
from fusion_core.jobs import JobDefinition, Schedule


def event_types() -> list[EventType]:
    return [
        EventType("number_import.completed", "A number import created its numbers"),
        EventType("number_import.failed", "A number import failed and created nothing"),
        EventType("number.published", "A number was offered for allocation"),
        EventType("number.reserved", "A number was reserved for a tenant"),
        EventType("number.allocated", "A number was allocated to a tenant subscription"),
        EventType("number.released", "A number was released into quarantine"),
        EventType("number.assigned", "A number was assigned to a service target"),
        EventType("number.unassigned", "A number was taken off its target"),
        EventType("number.retired", "A number was taken out of service"),
        EventType("number.transferred", "Numbers were moved into another pool"),
        EventType("number_request.created", "A tenant asked for numbers; they are reserved"),
        EventType("number_request.approved", "A number request was approved: numbers allocated"),
        EventType("number_request.rejected", "A number request was refused: numbers released"),
        EventType("port_in.submitted", "A port-in was submitted"),
        EventType("port_in.pending", "A port-in was accepted and sent to the losing carrier"),
        EventType("port_in.scheduled", "A port-in was scheduled"),
        EventType("port_in.completed", "A port-in completed: its numbers are allocated"),
        EventType("port_in.rejected", "A port-in was refused"),
        EventType("port_in.cancelled", "A port-in was withdrawn"),
    ]


def jobs() -> list[JobDefinition]:
    from fusion_core.numbering import services

    return [
        # One attempt: an import that failed (e.g. a clash with a concurrent import) fails again.
        JobDefinition(
            "numbering.import",
            services.run_import_job,
            max_attempts=1,
            on_failure=services.import_job_failed,
        ),
        JobDefinition(
            "numbering.apply_assignment",
            services.apply_assignment_job,
            on_failure=services.apply_assignment_failed,
        ),
        JobDefinition("numbering.expire", services.expire_job),
        JobDefinition("numbering.analyze", services.analyze_job, max_attempts=1),
    ]


def schedules() -> list[Schedule]:
    return [Schedule("numbering.expire", "numbering.expire", every=600)]


def cli_commands():
    from fusion_core.numbering.cli import numbers

    return [numbers]
