//! What the document says about one route beyond what the route table knows: its tag and
//! summary, its query parameters, its request body and its successful answers. Every schema
//! named here comes from the handler's own types (`ToSchema`, `IntoParams`), so a field added
//! to a type is in the document without an edit here; the schemas this collects become the
//! document's components.

use axum::http::Method;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{RefOr, Required};
use utoipa::{IntoParams, ToSchema};

/// The description of one method on one path (`/api/v1/app/{app_id}`, as in the route table).
pub struct OperationDoc {
    pub method: Method,
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub query: Vec<Parameter>,
    pub request_body: Option<utoipa::openapi::request_body::RequestBody>,
    /// Successful answers by status code.
    pub responses: Vec<(u16, Response)>,
    /// Every named schema the operation refers to, with the ones they refer to.
    pub schemas: Vec<(String, RefOr<Schema>)>,
}

/// Starts the description of `method` on `path`.
pub fn op(
    method: Method,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
) -> OperationDoc {
    OperationDoc {
        method,
        path,
        tag,
        summary,
        query: Vec::new(),
        request_body: None,
        responses: Vec::new(),
        schemas: Vec::new(),
    }
}

impl OperationDoc {
    /// The query parameters of `Q` (one of the handler's query parts).
    pub fn query<Q: IntoParams>(mut self) -> Self {
        self.query
            .extend(Q::into_params(|| Some(ParameterIn::Query)));
        self
    }

    /// A JSON request body of type `T`, required.
    pub fn body<T: ToSchema>(self) -> Self {
        self.json_body::<T>(Required::True)
    }

    /// A JSON request body of type `T` that may be left out.
    pub fn optional_body<T: ToSchema>(self) -> Self {
        self.json_body::<T>(Required::False)
    }

    fn json_body<T: ToSchema>(mut self, required: Required) -> Self {
        let schema = self.reference::<T>();
        self.request_body = Some(
            RequestBodyBuilder::new()
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(schema)).build(),
                )
                .required(Some(required))
                .build(),
        );
        self
    }

    /// A JSON answer of type `T` with `status`.
    pub fn json<T: ToSchema>(mut self, status: u16, description: &str) -> Self {
        let schema = self.reference::<T>();
        self.responses
            .push((status, json_response(description, schema)));
        self
    }

    /// A page of `T` (`ListResponse`: `data`, `iterator`, `prevIterator`, `done`) with 200.
    pub fn page<T: ToSchema>(mut self, description: &str) -> Self {
        let item = self.reference::<T>();
        let nullable_string = || {
            ObjectBuilder::new().schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                Type::String,
                Type::Null,
            ]))
        };
        let page = ObjectBuilder::new()
            .property("data", ArrayBuilder::new().items(item))
            .property("iterator", nullable_string())
            .property("prevIterator", nullable_string())
            .property("done", ObjectBuilder::new().schema_type(Type::Boolean))
            .required("data")
            .required("iterator")
            .required("prevIterator")
            .required("done")
            .into();
        self.responses.push((200, json_response(description, page)));
        self
    }

    /// A JSON answer whose shape the handler writes inline (`{}`, a status object).
    pub fn inline(mut self, status: u16, description: &str, schema: RefOr<Schema>) -> Self {
        self.responses
            .push((status, json_response(description, schema)));
        self
    }

    /// An answer that is not JSON (`text/event-stream`, Prometheus text).
    pub fn text(mut self, status: u16, description: &str, content_type: &str) -> Self {
        let schema: RefOr<Schema> = ObjectBuilder::new().schema_type(Type::String).into();
        let response = ResponseBuilder::new()
            .description(description)
            .content(
                content_type,
                ContentBuilder::new().schema(Some(schema)).build(),
            )
            .build();
        self.responses.push((status, response));
        self
    }

    /// An answer with no body (204).
    pub fn no_content(mut self, description: &str) -> Self {
        self.responses
            .push((204, ResponseBuilder::new().description(description).build()));
        self
    }

    /// A `$ref` to `T`, recording `T` and what it refers to among the components.
    fn reference<T: ToSchema>(&mut self) -> RefOr<Schema> {
        self.schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(&mut self.schemas);
        RefOr::Ref(utoipa::openapi::Ref::from_schema_name(T::name()))
    }
}

/// A JSON response with `schema`.
pub fn json_response(description: &str, schema: RefOr<Schema>) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(schema)).build(),
        )
        .build()
}

/// An object with these required string properties (the inline answers: `{"status": "ok"}`).
pub fn object_of(properties: &[(&str, RefOr<Schema>)]) -> RefOr<Schema> {
    let mut object = ObjectBuilder::new().schema_type(Type::Object);
    for (name, schema) in properties {
        object = object.property(*name, schema.clone()).required(*name);
    }
    object.into()
}

/// `{}`: the answer of calls that only queue work, since the SDK cannot parse an empty body.
pub fn empty_object() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .max_properties(Some(0))
        .into()
}

/// A string schema.
pub fn string() -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).into()
}
