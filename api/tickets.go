package api

// WSTicket is the answer to POST /v1/ws-tickets (spec/api.md §7.1): a
// ticket that opens one WebSocket, GET /v1/ws?ticket=..., within 30 s.
type WSTicket struct {
	Ticket  string `json:"ticket"`  // 43 characters, base64url
	Expires int64  `json:"expires"` // Unix ms
}
