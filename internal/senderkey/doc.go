// Package senderkey encrypts group messages with Sender Keys (spec/protocol.md
// §6), the design of Signal's group cipher (libsignal's group_cipher and
// sender_keys): each member encrypts a message once for the whole group
// instead of once per member.
//
// A Sender owns, per group (a 16-byte distribution ID), one sender chain: a
// chain ID, a 32-byte chain key, an iteration counter and a signing key pair.
// Sender.Distribution hands the chain's current state to a member; it must
// travel inside a pairwise ratchet session, which encrypts and authenticates
// it. Each message key comes from one step of the chain (spec §6.3), the
// message is AES-256-CBC encrypted and XEdDSA-signed by the signing key
// (spec §6.4). A Receiver holds, for one sender and one distribution ID, up to
// MaxChains of that sender's chains and decrypts its messages (spec §6.5).
//
// # What it protects
//
//   - Confidentiality of messages against anyone who never received a
//     distribution message for the chain, including the server.
//   - Sender authentication among members: only the holder of the signing
//     private key can make a message that verifies, so one member cannot
//     forge another member's messages even though every member knows the
//     chain key. The signature is checked before any key is derived.
//   - Forward secrecy within a chain: message keys are derived from a chain
//     key that is then replaced by a one-way step, and a used message key is
//     deleted, so a receiver state captured after a message was decrypted
//     cannot decrypt it again. A distribution message at iteration k gives
//     access to iterations k and later only.
//   - Integrity and replay: a modified, truncated, replayed or out-of-window
//     message fails with ErrDecrypt and leaves the receiver state unchanged.
//
// # What it does not protect
//
//   - No post-compromise security within a chain: whoever learns a chain key
//     can decrypt every later message on that chain. Recovery needs a new
//     chain (Sender.Rotate) distributed over the pairwise sessions, which
//     the application must do when a member leaves or a device is suspected.
//   - Authentication only towards members: the signing public key arrives in
//     the distribution message, so it proves authorship to the members that
//     received it, not to a third party, and binds nothing about who the
//     sender is beyond what the pairwise session that carried it proved.
//   - No deniability towards members: a signature is transferable evidence,
//     within the group, that the signing key's holder sent the message.
//   - Metadata: the distribution ID, chain ID, iteration and ciphertext length
//     are in clear; group membership and message ordering are the
//     application's job.
//   - Freshness across devices and chains: replay is detected only by the
//     state that saw the message; restoring an old state re-enables replays.
//
// # Differences from Signal
//
// The key schedule, cipher and signature are Signal's, but the message and
// distribution encodings are Parley's (spec §7.6, §7.7), so messages do not
// interoperate with libsignal. A receiver accepts a jump of at most
// MaxForwardJump iterations in one message (Signal: 25,000) and deletes
// skipped message keys after SkippedKeyTTL (Signal keeps them until
// evicted). An unknown chain ID is an ordinary ErrDecrypt; only an unknown
// distribution ID is ErrNoSenderKey.
//
// Senders and Receivers are not safe for concurrent use. Their Marshal
// output holds secret keys and must be stored as such.
package senderkey
