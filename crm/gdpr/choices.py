"""Closed vocabularies of the GDPR tools; keys are stored, labels are translated."""

from flask_babel import lazy_gettext as _l

REQUEST_KIND_LABELS = {
    "access": _l("Access (Art. 15)"),
    "rectification": _l("Rectification (Art. 16)"),
    "erasure": _l("Erasure (Art. 17)"),
    "restriction": _l("Restriction (Art. 18)"),
    "portability": _l("Portability (Art. 20)"),
    "objection": _l("Objection (Art. 21)"),
}
REQUEST_STATUS_LABELS = {
    "received": _l("Received"),
    "in_progress": _l("In progress"),
    "completed": _l("Completed"),
    "refused": _l("Refused"),
}
OPEN_STATUSES = ("received", "in_progress")
#: the kinds of request an export answers in full (an export for an erasure request is a check, not the answer)
ANSWERED_BY_EXPORT = ("access", "portability")
ANSWERED_BY_ERASURE = ("erasure",)
VERIFICATION_LABELS = {
    "id_document": _l("Identity document shown in person"),
    "email_on_file": _l("Email from the address on file"),
    "signed_letter": _l("Signed letter"),
    "qualified_signature": _l("Qualified electronic signature or trusted profile"),
    "phone_callback": _l("Call back to the number on file"),
    "email_link": _l("Link sent to the email given on the public form"),
}
PURPOSE_LABELS = {
    "email_marketing": _l("Direct marketing by email (mailing lists)"),
    "phone_marketing": _l("Direct marketing by phone"),
    "contract": _l("Performing a contract"),
    "invoicing": _l("Invoicing and accounting"),
}
#: the purpose a mailing-list subscription needs a valid basis for
MAILING_PURPOSE = "email_marketing"
BASIS_LABELS = {
    "consent": _l("Consent (Art. 6(1)(a))"),
    "contract": _l("Contract (Art. 6(1)(b))"),
    "legal_obligation": _l("Legal obligation (Art. 6(1)(c))"),
    "vital_interests": _l("Vital interests (Art. 6(1)(d))"),
    "public_task": _l("Public task (Art. 6(1)(e))"),
    "legitimate_interest": _l("Legitimate interest (Art. 6(1)(f))"),
}
CONSENT_SOURCE_LABELS = {
    "paper_form": _l("Paper form"),
    "web_form": _l("Web form"),
    "email": _l("Email"),
    "phone": _l("Phone call"),
    "contract": _l("Contract"),
}
EVENT_LABELS = {
    "export": _l("Export"),
    "erasure": _l("Erasure"),
    "retention": _l("Erasure by retention rule"),
}

CONSENT_LABELS = {
    "client": _l("Client"),
    "purpose": _l("Purpose"),
    "lawful_basis": _l("Lawful basis"),
    "given_on": _l("Given on"),
    "source": _l("Source"),
    "evidence": _l("Evidence"),
    "withdrawn_on": _l("Withdrawn on"),
}
RESTRICTION_LABELS = {
    "client": _l("Client"),
    "since": _l("Since"),
    "until": _l("Until"),
    "reason": _l("Reason"),
    "lifted_on": _l("Lifted on"),
    "created_by": _l("Recorded by"),
}
REQUEST_LABELS = {
    "id": _l("Number"),
    "kind": _l("Kind"),
    "client": _l("Client"),
    "received_on": _l("Received on"),
    "due_on": _l("Due on"),
    "deadline": _l("Deadline"),
    "extended_until": _l("Extended until"),
    "extension_reason": _l("Reason for the extension"),
    "verification_method": _l("Identity verified by"),
    "verified_on": _l("Identity verified on"),
    "verified_by": _l("Identity verified by (staff)"),
    "status": _l("Status"),
    "handler": _l("Handled by"),
    "outcome": _l("Outcome"),
    "completed_on": _l("Completed on"),
}
