package client

// Event is something that happened, reported through Config.Events: one
// of *MessageEvent, *ReceiptEvent, *TypingEvent, *IdentityChangedEvent,
// *DecryptionFailureEvent, *UndeliveredEvent, *SyncedEvent,
// *ProfileChangedEvent, and the channel and group events.
type Event interface{ event() }

// MessageEvent reports a message stored in a conversation: received from
// the peer, or sent by another of this account's devices. Resent means it
// replaces the "could not be decrypted" note with its ID: the sender sent
// it again (spec/client.md §6.3).
type MessageEvent struct {
	Message Message
	Resent  bool
}

// MessageChangedEvent reports that a stored message changed: it was
// edited, deleted for everyone (its Kind is now KindDeleted), or reacted
// to. Message is the message as it is now.
type MessageChangedEvent struct{ Message Message }

// MessageErasedEvent reports that a message is gone from the store: its
// disappearing timer ran out, or it was deleted for me on some device of
// this account.
type MessageErasedEvent struct {
	Conversation ConversationID
	ID           MessageID
}

// ReceiptEvent reports that From's devices received or read outgoing
// messages of Conversation; IDs are those whose status (or, in a group,
// count of receipts) changed.
type ReceiptEvent struct {
	Conversation ConversationID
	From         string
	Type         ReceiptType
	IDs          []MessageID
}

// TypingEvent reports that From started or stopped typing in
// Conversation.
type TypingEvent struct {
	Conversation ConversationID
	From         string
	Device       uint32
	Started      bool
}

// IdentityChangedEvent reports that the peer's identity key (safety
// number) changed. Held is true if they were verified: sending to them
// is refused until the user verifies again.
type IdentityChangedEvent struct {
	Peer string
	Held bool
}

// DecryptionFailureEvent reports a message that could not be decrypted.
// A note is stored in the conversation and a fresh session is started
// with the sender's device.
type DecryptionFailureEvent struct {
	Peer   string
	Device uint32
}

// UndeliveredEvent reports that an outgoing message could not be
// delivered to a device of the conversation's peer (or, with OwnDevice,
// to another device of this account): that device could not decrypt it
// and resending it did not help within the time it is kept
// (spec/client.md §6.3). The message's status is StatusUndelivered, and
// a note says so in the conversation.
type UndeliveredEvent struct {
	Conversation ConversationID
	To           string // the account whose device it is
	ID           MessageID
	Device       uint32
	OwnDevice    bool
}

func (*UndeliveredEvent) event() {}

// SyncedEvent reports that everything queued for this device when it
// connected has been processed.
type SyncedEvent struct{}

// ProfileChangedEvent reports that an account's profile changed (spec/client.md
// §12.4): a contact's, a group member's, or this account's, set on another
// device. Profile is the profile as it is now, made safe to show.
type ProfileChangedEvent struct{ Profile Profile }

func (*ProfileChangedEvent) event() {}

func (*MessageEvent) event()           {}
func (*MessageChangedEvent) event()    {}
func (*MessageErasedEvent) event()     {}
func (*ReceiptEvent) event()           {}
func (*TypingEvent) event()            {}
func (*IdentityChangedEvent) event()   {}
func (*DecryptionFailureEvent) event() {}
func (*SyncedEvent) event()            {}

// ChannelPostEvent reports a new post of a followed channel, verified.
type ChannelPostEvent struct{ Post Post }

// ChannelStateEvent reports that the operator suspended or restored a
// followed channel.
type ChannelStateEvent struct {
	Channel   string
	Suspended bool
	Reason    string
}

// ChannelForgeryEvent reports that the server served a record of a
// followed channel that does not verify, or repeats one already in the
// chain (a replay): it was not stored.
type ChannelForgeryEvent struct {
	Channel string
	Seq     uint64
}

// ChannelForkEvent reports a fork of a followed channel: two different
// records at one position, both validly signed by keys that could sign
// there (spec/protocol.md §10.5). Both are kept as evidence
// (Client.ChannelFork) and the channel takes no further records until the
// user resolves it (Client.ResolveChannelFork) or unfollows.
type ChannelForkEvent struct {
	Channel  string
	Position uint64
}

// ChannelGapEvent reports that the server withheld records of a followed
// channel: a record is missing from the chain, or was marked taken down
// without a valid operator notice. Feed shows a placeholder (Post.Withheld)
// and the next catch-up tries again.
type ChannelGapEvent struct {
	Channel string
	Seq     uint64
}

func (*ChannelForkEvent) event() {}
func (*ChannelGapEvent) event()  {}

// ChannelModerationEvent reports that the operator took down (or
// restored) a stored record of a followed channel; Feed now shows it as
// removed (or again).
type ChannelModerationEvent struct {
	Channel  string
	Seq      uint64
	Restored bool
	Reason   string
}

func (*ChannelModerationEvent) event() {}

func (*ChannelPostEvent) event()    {}
func (*ChannelStateEvent) event()   {}
func (*ChannelForgeryEvent) event() {}

// ReadElsewhereEvent reports that messages of Conversation were read on
// another of this account's devices, so they are read here too.
type ReadElsewhereEvent struct {
	Conversation ConversationID
	IDs          []MessageID
}

func (*ReadElsewhereEvent) event() {}
