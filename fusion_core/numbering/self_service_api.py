"""/api/v1/number-requests, /api/v1/port-ins and /api/v1/reports/numbers."""

from __future__ import annotations

from flask import Response, send_file, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from fusion_core.api.errors import ErrorSchema
from fusion_core.api.http import with_etag
from fusion_core.api.lists import page_schema, paginate
from fusion_core.context import current_actor
from fusion_core.db import session
from fusion_core.numbering import ports, reports, requests
from fusion_core.numbering.models import NumberRequest, PortDocument, PortIn
from fusion_core.numbering.schemas import (
    ActionSchema,
    CommentSchema,
    DocumentUploadSchema,
    NumberReportArgs,
    NumberRequestCreateSchema,
    NumberRequestListArgs,
    NumberRequestSchema,
    PortActionSchema,
    PortDocumentSchema,
    PortInCreateSchema,
    PortInListArgs,
    PortInSchema,
    RejectSchema,
    StepSchema,
)
from fusion_core.scope import load, scoped

number_requests = Blueprint(
    "number_requests",
    __name__,
    url_prefix="/number-requests",
    description="Tenants' requests for numbers (reserved at once), worked by the levels above.",
)


@number_requests.route("")
class RequestCollection(MethodView):
    @number_requests.arguments(NumberRequestListArgs, location="query")
    @number_requests.response(200, page_schema(NumberRequestSchema))
    def get(self, args):
        """Requests in your scope; `state=pending` is the queue to work."""
        stmt = scoped(select(NumberRequest), NumberRequest)
        for key, column in (
            ("state", NumberRequest.state),
            ("subscription_id", NumberRequest.subscription_id),
        ):
            if key in args:
                stmt = stmt.where(column == args[key])
        return paginate(
            stmt,
            args,
            sortable={"created_at": NumberRequest.created_at},
            default_sort="created_at",
            tiebreak=NumberRequest.id,
        )

    @number_requests.arguments(NumberRequestCreateSchema)
    @number_requests.response(201, NumberRequestSchema)
    @number_requests.alt_response(422, schema=ErrorSchema, description="not enough numbers")
    def post(self, data):
        """Ask for numbers (country, type, area, quantity) or one specific number for a tenant
        subscription: matching available numbers are reserved at once, or nothing is."""
        return requests.create_request(session, data)


@number_requests.route("/<uuid:id>")
class RequestItem(MethodView):
    @number_requests.response(200, NumberRequestSchema)
    @number_requests.alt_response(404, schema=ErrorSchema)
    def get(self, id):
        """One request."""
        return with_etag(load(NumberRequest, id))


def _request_view(name, schema, func, doc):
    class View(MethodView):
        @number_requests.arguments(schema)
        @number_requests.response(200, NumberRequestSchema)
        @number_requests.alt_response(409, schema=ErrorSchema)
        def post(self, data, id):
            request = _locked(NumberRequest, id)
            return func(session, request, **data)

    View.post.__doc__ = doc
    View.__name__ = f"Request{name.title()}"
    number_requests.route(f"/<uuid:id>/{name}", endpoint=f"request_{name}")(View)


def _locked(model, id):
    row = load(model, id)
    session.refresh(row, with_for_update=True)
    return row


for _args in (
    ("approve", ActionSchema, requests.approve,
     "Allocate the reserved numbers to the subscription (levels above the tenant)."),
    ("reject", RejectSchema, requests.reject, "Refuse, with a reason: the numbers are released."),
    ("cancel", ActionSchema, requests.cancel, "Withdraw the request: the numbers are released."),
):  # fmt: skip
    _request_view(*_args)


port_ins = Blueprint(
    "port_ins",
    __name__,
    url_prefix="/port-ins",
    description="Port-ins: a tenant's numbers brought over from another carrier.",
)


@port_ins.route("")
class PortCollection(MethodView):
    @port_ins.arguments(PortInListArgs, location="query")
    @port_ins.response(200, page_schema(PortInSchema))
    def get(self, args):
        """Port-ins in your scope; filter by `state` for a queue."""
        stmt = scoped(select(PortIn), PortIn)
        for key, column in (("state", PortIn.state), ("subscription_id", PortIn.subscription_id)):
            if key in args:
                stmt = stmt.where(column == args[key])
        return paginate(
            stmt,
            args,
            sortable={"created_at": PortIn.created_at, "requested_date": PortIn.requested_date},
            default_sort="created_at",
            tiebreak=PortIn.id,
        )

    @port_ins.arguments(PortInCreateSchema)
    @port_ins.response(201, PortInSchema)
    @port_ins.alt_response(422, schema=ErrorSchema)
    def post(self, data):
        """Draft (or, with `submit`, submit) a port-in of numbers and ranges for a tenant
        subscription; every number is validated and must not be on the platform yet."""
        return ports.create_port(session, data)


@port_ins.route("/<uuid:id>")
class PortItem(MethodView):
    @port_ins.response(200, PortInSchema)
    @port_ins.alt_response(404, schema=ErrorSchema)
    def get(self, id):
        """One port-in: numbers, steps (done or not), comments, the actions its state allows."""
        return with_etag(load(PortIn, id))


def _port_view(action):
    class View(MethodView):
        @port_ins.arguments(PortActionSchema)
        @port_ins.response(200, PortInSchema)
        @port_ins.alt_response(409, schema=ErrorSchema, description="illegal in the current state")
        def post(self, data, id):
            port = _locked(PortIn, id)
            return ports.transition(session, port, action, **data)

    move = ports.PORT_TRANSITIONS[action]
    View.post.__doc__ = f"{action.title()}: {' or '.join(move.sources)} -> {move.target}" + (
        " (levels above the tenant)." if move.upstream else "."
    )
    View.__name__ = f"Port{action.title()}"
    port_ins.route(f"/<uuid:id>/{action}", endpoint=f"port_{action}")(View)


for _action in ports.PORT_TRANSITIONS:
    _port_view(_action)


@port_ins.route("/<uuid:id>/comments")
class PortComments(MethodView):
    @port_ins.arguments(CommentSchema)
    @port_ins.response(200, PortInSchema)
    def post(self, data, id):
        """Add a comment to the port-in's conversation."""
        return ports.add_comment(session, _locked(PortIn, id), data["text"])


@port_ins.route("/<uuid:id>/steps")
class PortSteps(MethodView):
    @port_ins.arguments(StepSchema)
    @port_ins.response(200, PortInSchema)
    def post(self, data, id):
        """Mark one of the country's steps done (or not) (levels above the tenant)."""
        return ports.mark_step(session, _locked(PortIn, id), data["step"], data["done"])


@port_ins.route("/<uuid:id>/documents")
class PortDocuments(MethodView):
    @port_ins.response(200, PortDocumentSchema(many=True))
    def get(self, id):
        """The port-in's documents (metadata)."""
        return ports.documents(session, load(PortIn, id))

    @port_ins.arguments(DocumentUploadSchema)
    @port_ins.response(201, PortDocumentSchema)
    @port_ins.alt_response(422, schema=ErrorSchema)
    def post(self, data, id):
        """Attach a document (base64; at most 512 KiB, 10 per port-in)."""
        return ports.add_document(session, _locked(PortIn, id), data)


@port_ins.route("/<uuid:id>/documents/<uuid:document_id>")
class PortDocumentContent(MethodView):
    @port_ins.response(200, description="the file itself")
    @port_ins.alt_response(404, schema=ErrorSchema)
    def get(self, id, document_id):
        """Download a document."""
        port = load(PortIn, id)
        doc = load(PortDocument, document_id, what="document", field="document_id")
        if doc.port_in_id != port.id:
            from fusion_core.errors import NotFound

            raise NotFound("No such document.", errors={"document_id": ["Not found."]})
        response = Response(doc.content, mimetype=doc.content_type)
        response.headers["Content-Disposition"] = f'attachment; filename="{doc.filename}"'
        return response


number_reports = Blueprint(
    "number_reports", __name__, url_prefix="/reports", description="Number usage reports."
)


@number_reports.route("/numbers")
class NumberReport(MethodView):
    @number_reports.arguments(NumberReportArgs, location="query")
    @number_reports.response(200, description="A JSON list, a CSV or an XLSX file (`format`)")
    def get(self, args):
        """Numbers in your subtree counted by state, country and type, per owning organisation
        or rolled up (`group_by`), streamed."""
        from fusion_core.catalog.reports import as_csv, as_json, as_xlsx

        fmt, group_by = args["format"], args["group_by"]
        rows = reports.number_rows(session, current_actor(), group_by)
        name = f"numbers-by-{group_by}.{fmt}"
        if fmt == "xlsx":
            return send_file(
                as_xlsx(rows, reports.COLUMNS),
                mimetype=reports.MIME[fmt],
                as_attachment=True,
                download_name=name,
            )
        body = as_json(rows) if fmt == "json" else as_csv(rows, reports.COLUMNS)
        response = Response(stream_with_context(body), mimetype=reports.MIME[fmt])
        if fmt == "csv":
            response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


BLUEPRINTS = [number_requests, port_ins, number_reports]
