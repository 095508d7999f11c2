// Package xeddsa signs and verifies with X25519 identity keys, the way
// Signal's libsignal does: XEd25519 from "The XEdDSA and VXEdDSA Signature
// Schemes" (Trevor Perrin, revision 1, 2016-10-20), with libsignal's two
// changes described below. Section numbers in comments (§3, §2.5, ...) refer
// to that document.
//
// # What it protects
//
// A valid signature shows that the holder of the X25519 private key whose
// public key is pub signed exactly these message bytes. Verify accepts only
// canonical encodings (u < p, s < q, R as recomputed), so a valid signature
// cannot be altered into a second valid signature for the same message and
// key. Signing is constant time in the private key and the nonce (the
// arithmetic is filippo.io/edwards25519's); verification handles only public
// values and is variable time.
//
// # What it does not protect
//
//   - Context: a signature covers the message bytes and nothing else. Callers
//     must put their own domain separation (protocol name, role, version)
//     inside the message, or a signature made for one purpose verifies for
//     another.
//   - Freshness: a signature stays valid forever; replay protection is the
//     caller's job.
//   - Key authenticity: Verify checks a signature against a key; it says
//     nothing about whose key that is (that is what fingerprints are for).
//   - Confidentiality: nothing is encrypted.
//   - It is not a VRF (VXEdDSA, §4, is not implemented) and signatures are
//     randomised, not deterministic (§8): Sign needs a working random source.
//
// # Deviations from the XEdDSA specification
//
// libsignal, and the Signal test vectors this package must reproduce, differ
// from the specification in two places:
//
//  1. Sign bit instead of scalar negation. §2.3's calculate_key_pair negates
//     the private scalar whenever the Edwards public key has its sign bit set,
//     so that the verifier can always assume sign bit 0. libsignal keeps the
//     scalar a = k as it is, and sends the sign bit of A = aB in the top bit
//     of signature byte 63, which is always zero in s because s < q < 2^253.
//     Verify reads that bit to rebuild A from the Montgomery u. A signature
//     made by the specification carries sign bit 0 and a public key with sign
//     bit 0, so it verifies here too. The reverse does not hold: a strictly
//     conforming verifier rejects about half of the signatures made here (those
//     with the bit set, as s >= 2^|q| in its eyes).
//  2. Nonce input. §3 hashes the encoding of the scalar a into the nonce r;
//     libsignal hashes the clamped private key bytes k. Only the signer sees
//     this, so it does not change what verifies.
//
// Verify is also stricter than §3 and §5 in two ways that no honest signer
// notices: it rejects s >= q (the specification only rejects s >= 2^|q|),
// and it rejects public keys of small order, whose signatures anyone could
// forge (§4 makes the same check for VXEdDSA). X25519 clamps every private
// key, so every public key it makes has prime order.
package xeddsa
