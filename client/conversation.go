package client

import (
	"encoding/hex"
	"errors"
	"strings"

	"github.com/parley-chat/parley/api"
)

// GroupID names a group: 32 random bytes chosen by its creator
// (spec/client.md §10).
type GroupID [32]byte

// String is the ID in hex.
func (id GroupID) String() string { return hex.EncodeToString(id[:]) }

// ConversationID names a conversation: a chat with one other account, by
// its username ("alice"), or a group, by groupPrefix and the group ID in
// hex ("+3fa9…", 64 hex digits). Usernames never start with groupPrefix
// (spec/api.md §4.1), so the two cannot be confused. It is also the key
// of the conversation's messages in the store.
type ConversationID string

const groupPrefix = "+"

// ErrNoSuchConversation means a conversation name is neither a valid
// username nor a group this device knows.
var ErrNoSuchConversation = errors.New("client: no such conversation")

// Direct is the conversation with the account username. It is not
// checked; Send and the others refuse an invalid username.
func Direct(username string) ConversationID { return ConversationID(username) }

// GroupConversation is the conversation of group id.
func GroupConversation(id GroupID) ConversationID {
	return ConversationID(groupPrefix + id.String())
}

// IsGroup reports whether c names a group.
func (c ConversationID) IsGroup() bool { return strings.HasPrefix(string(c), groupPrefix) }

// Peer is the other account of a 1:1 conversation, or "" for a group.
func (c ConversationID) Peer() string {
	if c.IsGroup() {
		return ""
	}
	return string(c)
}

// Group is the group of a group conversation.
func (c ConversationID) Group() (GroupID, bool) {
	var id GroupID
	if !c.IsGroup() {
		return id, false
	}
	b, err := hex.DecodeString(strings.TrimPrefix(string(c), groupPrefix))
	if err != nil || len(b) != len(id) {
		return id, false
	}
	copy(id[:], b)
	return id, true
}

// normalize checks c: a group ID in lower-case hex, or a username, which
// it normalises ("@Alice" is "alice").
func (c ConversationID) normalize() (ConversationID, error) {
	if c.IsGroup() {
		id, ok := c.Group()
		if !ok {
			return "", ErrNoSuchConversation
		}
		return GroupConversation(id), nil
	}
	name, err := api.NormalizeUsername(string(c))
	if err != nil {
		return "", ErrNoSuchUser
	}
	return ConversationID(name), nil
}
