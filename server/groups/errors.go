package groups

import (
	"fmt"
	"net/http"

	"github.com/parley-chat/parley/api"
)

func apiError(status int, code api.Code, msg string) *api.Error {
	return &api.Error{Status: status, Code: code, Message: msg}
}

func badRequest(format string, args ...any) *api.Error {
	return apiError(http.StatusBadRequest, api.CodeBadRequest, fmt.Sprintf(format, args...))
}

var (
	errSendRate = apiError(http.StatusTooManyRequests, api.CodeRateLimited,
		"You are sending too much too fast; retry later.")
	errTooLarge = apiError(http.StatusRequestEntityTooLarge, api.CodeTooLarge,
		"The content is larger than 256 KiB.")
	errEphemeralTooLarge = apiError(http.StatusRequestEntityTooLarge, api.CodeTooLarge,
		"An ephemeral content is larger than 4 KiB.")
	errSenderQueueFull = apiError(http.StatusTooManyRequests, api.CodeSenderQueueFull,
		"You have as many messages waiting for a recipient device as one sender may; retry once it has read them.")
	errQueueFull = apiError(http.StatusTooManyRequests, api.CodeQueueFull,
		"A recipient device's queue is full; retry later.")

	errLinkNotFound = apiError(http.StatusNotFound, api.CodeNotFound, "No group link has this ID.")
	errNotOwner     = apiError(http.StatusForbidden, api.CodeForbidden,
		"This group link belongs to another account.")
	errTooManyLinks = apiError(http.StatusTooManyRequests, api.CodeTooManyLinks,
		"Your account holds as many group links as it may; delete one first.")
	errSnapshotTooLarge = apiError(http.StatusRequestEntityTooLarge, api.CodeTooLarge,
		"A group link's snapshot is larger than 1 MiB.")
	errBadLinkID = badRequest("A group link ID is 16 bytes written as 22 characters of unpadded base64url.")
)
