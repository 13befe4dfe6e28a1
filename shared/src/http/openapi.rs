//! The OpenAPI 3.1 document, generated from the code.
//!
//! Each function crate registers its handlers with `utoipa_axum`'s `OpenApiRouter` and
//! `routes!`, so a route and its description are one registration: neither can exist without
//! the other. This module adds what is common to every operation:
//!
//! - the security schemes (staff JWT, student access token, Whapi's webhook secret header);
//! - the problem+json answers every route may give (400, 401/403 where a credential is asked,
//!   404, 413, 415, 422, 500, 503), each with the [`Problem`] shape and its stable codes;
//! - the `x-request-id` header of every response.

use utoipa::{
    Modify, PartialSchema, ToSchema,
    openapi::{
        self, ContentBuilder, HeaderBuilder, InfoBuilder, OpenApi, RefOr, ResponseBuilder,
        ServerBuilder,
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use super::PROBLEM_JSON;
use crate::{
    auth::password::Password,
    domain::{
        Description, Length, Title,
        exam::NewQuestion,
        staff::{Email, PersonName},
        student::Phone,
    },
    sync::peer::PeerName,
};

/// An RFC 9457 problem, as every error is answered.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Problem {
    /// `/problems/<code>`.
    #[schema(rename = "type", example = "/problems/validation-failed")]
    kind: String,
    #[schema(example = "Unprocessable Entity")]
    title: String,
    #[schema(example = 422)]
    status: u16,
    /// Stable, machine-readable: `validation_failed`, `not_found`, `unauthorized`,
    /// `already_registered`, `pdf_missing`, `provider_unavailable`, ...
    #[schema(example = "validation_failed")]
    code: String,
    detail: Option<String>,
    /// The fields that failed to parse (validation_failed only).
    errors: Option<Vec<ProblemField>>,
    /// Quote it when reporting a problem.
    #[schema(format = Uuid)]
    request_id: Option<String>,
    /// `already_registered` only: the inscription that exists.
    #[schema(format = Uuid)]
    existing_inscription_id: Option<String>,
}

/// One invalid field.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ProblemField {
    /// Its JSON path: `title`, `answers[3].choice`.
    #[schema(example = "whatsapp_number")]
    field: String,
    #[schema(example = "is not a valid phone number for its country")]
    message: String,
}

/// Security scheme names, as handlers cite them in `security(...)`.
pub const STAFF: &str = "staff_jwt";
pub const STUDENT: &str = "student_token";
pub const WEBHOOK: &str = "webhook_secret";
pub const PEER: &str = "sync_peer";

/// Completes the document built from the routers.
pub fn complete(mut doc: OpenApi) -> OpenApi {
    doc.info = InfoBuilder::new()
        .title("Masterclass platform API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Registration, PRE/POST tests, question bank and WhatsApp messaging for masterclasses \
             in Gabon. Errors are RFC 9457 problem+json with a stable `code`. POSTs that create \
             something accept an `Idempotency-Key` header. Every response carries `x-request-id`.",
        ))
        .build();
    doc.servers = Some(vec![
        ServerBuilder::new()
            .url("/")
            .description(Some("this server"))
            .build(),
    ]);
    Common.modify(&mut doc);
    write_limits(&mut doc);
    add_sync_records(&mut doc);
    doc
}

/// The record schemas of the sync collections (`SyncInscription`...), each with `x-sync`: its
/// collection, the fields a device sends with a create and in an update, and those only the
/// server writes, from the lists the push applies.
fn add_sync_records(doc: &mut OpenApi) {
    use crate::sync::{Collection, records};
    use openapi::{extensions::ExtensionsBuilder, schema::Schema};
    fn record<T: ToSchema>(collection: Collection) -> (String, RefOr<Schema>, Collection) {
        (T::name().into_owned(), T::schema(), collection)
    }
    let schemas = &mut doc.components.get_or_insert_with(Default::default).schemas;
    for (name, mut schema, collection) in [
        record::<records::Masterclass>(Collection::Masterclasses),
        record::<records::Inscription>(Collection::Inscriptions),
        record::<records::Question>(Collection::Questions),
        record::<records::Document>(Collection::Documents),
    ] {
        let RefOr::T(Schema::Object(object)) = &mut schema else {
            panic!("OpenAPI: {name} is not an object schema");
        };
        let create: Vec<&str> = collection
            .create_only()
            .iter()
            .chain(collection.writable())
            .copied()
            .collect();
        object.extensions = Some(
            ExtensionsBuilder::new()
                .add(
                    "x-sync",
                    serde_json::json!({
                        "collection": collection.name(),
                        "create": create,
                        "update": collection.writable(),
                        "server": collection.server_owned(),
                    }),
                )
                .build(),
        );
        schemas.insert(name, schema);
    }
}

/// Where each text limit shows in the document: schema, property (`name[]` for each item of an
/// array), and the constant the parser checks. The limits are declared once, on the types that
/// parse the fields (see [`Length`]); the request structs carry no copy of them.
// A row a limited field: a table, so that the document and the parsers cannot disagree.
const LIMITS: &[(&str, &str, Length)] = &[
    ("MasterclassDraft", "title", Title::LENGTH),
    ("MasterclassDraft", "description", Description::LENGTH),
    ("RegistrationDraft", "full_name", PersonName::LENGTH),
    ("RegistrationDraft", "whatsapp_number", Phone::LENGTH),
    ("StaffDraft", "email", Email::LENGTH),
    ("StaffDraft", "full_name", PersonName::LENGTH),
    ("StaffDraft", "password", Password::LENGTH),
    ("StaffPatchDraft", "full_name", PersonName::LENGTH),
    ("PasswordReset", "password", Password::LENGTH),
    ("QuestionDraft", "text", NewQuestion::TEXT),
    ("QuestionDraft", "choices[]", NewQuestion::CHOICE),
    ("PeerDraft", "name", PeerName::LENGTH),
    (
        "QuestionDraft",
        "source_excerpt",
        NewQuestion::SOURCE_EXCERPT,
    ),
];

/// Writes [`LIMITS`] into the document's schemas. A schema or property that is not there is a
/// bug in the table (a field renamed): it panics, and the unit test that builds the document
/// fails.
fn write_limits(doc: &mut OpenApi) {
    use openapi::schema::{ArrayItems, Schema};
    let schemas = &mut doc.components.get_or_insert_with(Default::default).schemas;
    for (schema, property, length) in LIMITS {
        let Some(RefOr::T(Schema::Object(object))) = schemas.get_mut(*schema) else {
            panic!("OpenAPI limits: no object schema {schema}");
        };
        let (name, each_item) = match property.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (*property, false),
        };
        let mut target = object.properties.get_mut(name);
        if each_item {
            target = match target {
                Some(RefOr::T(Schema::Array(array))) => match &mut array.items {
                    ArrayItems::RefOrSchema(items) => Some(items.as_mut()),
                    ArrayItems::False => None,
                },
                _ => None,
            };
        }
        let Some(RefOr::T(Schema::Object(field))) = target else {
            panic!("OpenAPI limits: no text property {schema}.{property}");
        };
        field.min_length = (length.min > 0).then_some(length.min);
        field.max_length = Some(length.max);
    }
}

struct Common;

impl Modify for Common {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            STAFF,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A staff token from POST /api/auth/token (or a Supabase Auth token)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            STUDENT,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("mcs_…")
                    .description(Some(
                        "The student access token issued at registration (`mcs_` + 43 characters)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            PEER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("msp_…")
                    .description(Some(
                        "A sync peer's secret, from POST /api/sync/peers on this instance \
                         (`msp_` + 43 characters): another instance syncing with this one",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            WEBHOOK,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-webhook-secret",
                "The secret configured in Whapi.Cloud for this webhook",
            ))),
        );
        components
            .schemas
            .insert("Problem".into(), Problem::schema());
        components
            .schemas
            .insert("ProblemField".into(), ProblemField::schema());

        let request_id = HeaderBuilder::new()
            .schema(Some(openapi::schema::Object::with_type(
                openapi::Type::String,
            )))
            .description(Some("The request's id (the caller's, or a fresh UUID)"))
            .build();
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                let mut statuses = vec![
                    (
                        "400",
                        "The request could not be read (malformed JSON or query, bad header)",
                    ),
                    ("404", "Nothing here, or nothing this caller may see"),
                    (
                        "413",
                        "The body is larger than 256 KiB (or a file is too large)",
                    ),
                    ("415", "The body is not JSON"),
                    (
                        "422",
                        "One or more fields are invalid (see `errors`), or a rule was broken",
                    ),
                    (
                        "500",
                        "A bug or an infrastructure failure (logged with the request id)",
                    ),
                    (
                        "503",
                        "A dependency is saturated; retry after `Retry-After` seconds",
                    ),
                ];
                if secured {
                    statuses.push(("401", "No valid credentials"));
                    statuses.push(("403", "Valid credentials without the right role"));
                }
                for (status, description) in statuses {
                    operation
                        .responses
                        .responses
                        .entry(status.into())
                        .or_insert_with(|| RefOr::T(problem_response(description)));
                }
                for response in operation.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        response
                            .headers
                            .entry("x-request-id".into())
                            .or_insert_with(|| RefOr::T(request_id.clone()));
                    }
                }
            }
        }
    }
}

/// A problem+json response with `description`.
pub fn problem_response(description: &str) -> openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(openapi::Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}
