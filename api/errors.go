package api

import "fmt"

// Code is a stable error code (spec/api.md §2.2). Clients branch on codes,
// never on messages.
type Code string

// The error catalogue.
const (
	CodeBadRequest       Code = "bad_request"
	CodeUnauthorized     Code = "unauthorized"
	CodeForbidden        Code = "forbidden"
	CodeNotFound         Code = "not_found"
	CodeUsernameInvalid  Code = "username_invalid"
	CodeUsernameReserved Code = "username_reserved"
	CodeUsernameTaken    Code = "username_taken"
	CodeInviteRequired   Code = "invite_required"
	CodeRateLimited      Code = "rate_limited"
	CodeTooManyDevices   Code = "too_many_devices"
	CodeTokenInvalid     Code = "token_invalid"
	CodeBadSignature     Code = "bad_signature"
	CodeStaleDevices     Code = "stale_devices"
	CodeTooLarge         Code = "too_large"
	CodeQueueFull        Code = "queue_full"
	CodeNoPreKeys        Code = "no_prekeys"
	CodeAlreadyWritten   Code = "already_written"
	CodeUnavailable      Code = "unavailable"
	CodeInternal         Code = "internal"

	// CodeSenderQueueFull: the sender has its whole share of a recipient
	// device's queue (spec/api.md §6.4).
	CodeSenderQueueFull Code = "sender_queue_full"

	// Channels (spec/api.md §11).
	CodeHandleTaken      Code = "handle_taken"
	CodeChannelSuspended Code = "channel_suspended" // HTTP 451
	CodeBadRecord        Code = "bad_record"
	CodeStaleHead        Code = "stale_head"         // HTTP 409, with head_position
	CodeSignerNotAllowed Code = "signer_not_allowed" // HTTP 403
	CodeChannelRestored  Code = "channel_restored"   // only in Channel frames
	CodeRecordTakenDown  Code = "record_taken_down"  // only in Channel frames
	CodeRecordRestored   Code = "record_restored"    // only in Channel frames
	// Media (spec/api.md §10).
	CodeQuotaExceeded  Code = "quota_exceeded"  // HTTP 413
	CodeOffsetMismatch Code = "offset_mismatch" // HTTP 409, with an Upload-Offset header
	CodeDigestMismatch Code = "digest_mismatch" // HTTP 422
	// Groups (spec/api.md §6.6, §13).
	CodeTooManyRecipients Code = "too_many_recipients" // HTTP 413
	CodeTooManyLinks      Code = "too_many_links"      // HTTP 429
	// Profiles (spec/api.md §14).
	CodeStaleVersion Code = "stale_version" // HTTP 409, with version
	CodeNoProfile    Code = "no_profile"    // HTTP 404
)

// Error is the body of every error response, and the error type the Go
// client returns.
type Error struct {
	Status  int    `json:"-"`
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// Missing and Extra are set with CodeStaleDevices: the recipient's
	// devices the send lacked, and the ones it named that do not exist.
	Missing []uint32 `json:"missing,omitempty"`
	Extra   []uint32 `json:"extra,omitempty"`
	// Accounts is set with CodeStaleDevices in answer to a send to many
	// (PUT /v1/messages): every account the send named wrongly, so that
	// the client mends them all before it sends again.
	Accounts []StaleAccount `json:"accounts,omitempty"`
	// HeadPosition is set with CodeStaleHead: the position of the
	// channel's last record.
	HeadPosition uint64 `json:"head_position,omitempty"`
	// Version is set with CodeStaleVersion: the version of the profile
	// the server holds.
	Version uint64 `json:"version,omitempty"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("parley api: %s: %s", e.Code, e.Message)
}

// Is makes errors.Is(err, &Error{Code: c}) match on the code alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}
