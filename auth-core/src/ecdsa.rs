//! ECDSA signature malleability for JWS `ES256` / `ES384` (RFC 7518 §3.4).
//!
//! A JWS ECDSA signature is `R || S`, each the curve's byte length, big-endian. For every valid
//! signature `(r, s)` the pair `(r, n - s)` is valid too, so a verifier that must see one
//! signature per message (a replay cache keyed on the token, a token hash) accepts only the
//! "low-S" form, `s ≤ (n - 1) / 2`. The authorization server normalises what it signs with
//! [`normalize_low_s`]; the resource server can require it with [`is_low_s`].
//!
//! The scalar arithmetic is the RustCrypto curve crates' (`p256`, `p384`): `S` is parsed as a
//! scalar of the curve (so `S ≥ n` is refused), tested with `IsHigh` and negated modulo `n`, the
//! same two operations `ecdsa::Signature::normalize_s` performs. That method is not called
//! directly because it needs a whole valid signature (`R` in `[1, n)` too), and these functions
//! look at `S` alone.
//!
//! ```
//! use mcp_auth_core::ecdsa::{Curve, is_low_s, normalize_low_s};
//!
//! // R || S with S = 0x80…0, just above half the order of P-256.
//! let mut sig = [0u8; 64];
//! sig[32] = 0x80;
//! assert!(!is_low_s(Curve::P256, &sig));
//! assert!(normalize_low_s(Curve::P256, &mut sig));
//! assert!(is_low_s(Curve::P256, &sig));
//! ```

use p256::elliptic_curve::ff::PrimeField;
use p256::elliptic_curve::scalar::IsHigh;
use p256::elliptic_curve::{CurveArithmetic, FieldBytes};

/// A NIST curve used by JWS ECDSA algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// P-256, for `ES256` (32-byte `R` and `S`).
    P256,
    /// P-384, for `ES384` (48-byte `R` and `S`).
    P384,
}

impl Curve {
    /// The byte length of `R` (and of `S`): 32 for P-256, 48 for P-384.
    pub fn scalar_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
        }
    }
}

/// True when `signature` is `R || S` of the curve's length with `S ≤ (n - 1) / 2`. A signature
/// of the wrong length is not low-S, nor is one whose `S` is not below `n`.
pub fn is_low_s(curve: Curve, signature: &[u8]) -> bool {
    match curve {
        Curve::P256 => low_s::<p256::NistP256>(curve, signature),
        Curve::P384 => low_s::<p384::NistP384>(curve, signature),
    }
}

/// Replace `S` by `n - S` when it is above half the order, so the signature verifies exactly as
/// before and is low-S. Returns `false` (and changes nothing) when `signature` is not `R || S`
/// of the curve's length, or its `S` is not below `n` (not a signature of this curve).
pub fn normalize_low_s(curve: Curve, signature: &mut [u8]) -> bool {
    match curve {
        Curve::P256 => normalize::<p256::NistP256>(curve, signature, false),
        Curve::P384 => normalize::<p384::NistP384>(curve, signature, false),
    }
}

/// Replace `S` by `n - S` unconditionally: the other valid signature of the same message. Used
/// by test kits to make the malleated twin of a good signature. Does nothing when `signature` is
/// not `R || S` of the curve's length, or its `S` is not below `n`.
pub fn negate_s(curve: Curve, signature: &mut [u8]) {
    match curve {
        Curve::P256 => normalize::<p256::NistP256>(curve, signature, true),
        Curve::P384 => normalize::<p384::NistP384>(curve, signature, true),
    };
}

/// `S` of `signature` as a scalar of `C`: `None` for a wrong length or `S ≥ n`.
fn s_scalar<C: CurveArithmetic>(curve: Curve, signature: &[u8]) -> Option<C::Scalar> {
    let len = curve.scalar_len();
    if signature.len() != 2 * len {
        return None;
    }
    let repr = FieldBytes::<C>::clone_from_slice(&signature[len..]);
    Option::from(C::Scalar::from_repr(repr))
}

fn low_s<C: CurveArithmetic>(curve: Curve, signature: &[u8]) -> bool {
    s_scalar::<C>(curve, signature).is_some_and(|s| !bool::from(s.is_high()))
}

/// Negate `S` when it is high, or always when `always`; false when `S` is not a scalar.
fn normalize<C: CurveArithmetic>(curve: Curve, signature: &mut [u8], always: bool) -> bool {
    let Some(s) = s_scalar::<C>(curve, signature) else {
        return false;
    };
    if always || bool::from(s.is_high()) {
        let negated: FieldBytes<C> = (-s).to_repr();
        signature[curve.scalar_len()..].copy_from_slice(&negated);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(n - 1) / 2` of P-256, big-endian (from the order in SEC 2 §2.4.2): the largest low `S`.
    const P256_HALF_ORDER: &str =
        "7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8";
    /// `(n - 1) / 2` of P-384 (from the order in SEC 2 §2.5.1).
    const P384_HALF_ORDER: &str = "7fffffffffffffffffffffffffffffffffffffffffffffffe3b1a6c0fa1b96efac0d06d9245853bd76760cb5666294b9";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// `S + k` as big-endian bytes of the same length (`k` small, no overflow).
    fn plus(s: &[u8], k: u8) -> Vec<u8> {
        let mut out = s.to_vec();
        let mut carry = u16::from(k);
        for b in out.iter_mut().rev() {
            let v = u16::from(*b) + carry;
            *b = v as u8;
            carry = v >> 8;
        }
        out
    }

    /// The boundary is exactly half the order: `(n - 1) / 2` is low, the next value is high,
    /// `n - 1` is high, and `n` itself is not a scalar (neither low nor normalised).
    #[test]
    fn the_boundary_is_half_the_order() {
        for (curve, half) in [
            (Curve::P256, P256_HALF_ORDER),
            (Curve::P384, P384_HALF_ORDER),
        ] {
            let half = hex(half);
            let sig = |s: &[u8]| [vec![0x11u8; s.len()], s.to_vec()].concat();
            assert!(is_low_s(curve, &sig(&half)));
            assert!(!is_low_s(curve, &sig(&plus(&half, 1))));
            // n = 2·half + 1, so n - 1 = half + half.
            let n_minus_1: Vec<u8> = {
                let mut twice = half.clone();
                let mut carry = 0u16;
                for b in twice.iter_mut().rev() {
                    let v = u16::from(*b) * 2 + carry;
                    *b = v as u8;
                    carry = v >> 8;
                }
                assert_eq!(carry, 0);
                twice
            };
            assert!(!is_low_s(curve, &sig(&n_minus_1)));
            let mut high = sig(&n_minus_1);
            assert!(normalize_low_s(curve, &mut high));
            // n - (n - 1) = 1.
            assert_eq!(
                high[curve.scalar_len()..],
                plus(&vec![0; half.len()], 1)[..]
            );
            let n = plus(&n_minus_1, 1);
            let mut not_a_scalar = sig(&n);
            assert!(!is_low_s(curve, &not_a_scalar));
            assert!(!normalize_low_s(curve, &mut not_a_scalar));
            assert_eq!(not_a_scalar, sig(&n));
        }
    }

    /// Negating twice gives the signature back, and exactly one of the twins is low-S.
    #[test]
    fn negation_is_an_involution_and_one_twin_is_low() {
        for curve in [Curve::P256, Curve::P384] {
            let len = curve.scalar_len();
            for seed in [1u8, 0x42, 0x7f, 0x80, 0xfe] {
                let mut sig = vec![0x11u8; 2 * len];
                sig[len..].iter_mut().enumerate().for_each(|(i, b)| {
                    *b = seed.wrapping_add(i as u8);
                });
                sig[len] = seed; // keep S < n
                let original = sig.clone();
                let mut twin = sig.clone();
                negate_s(curve, &mut twin);
                assert_ne!(twin, original);
                assert_ne!(is_low_s(curve, &original), is_low_s(curve, &twin));
                negate_s(curve, &mut twin);
                assert_eq!(twin, original);
                assert!(normalize_low_s(curve, &mut sig));
                assert!(is_low_s(curve, &sig));
            }
        }
    }

    /// A signature of the wrong length is neither low-S nor changed.
    #[test]
    fn wrong_length_is_not_low_s() {
        let mut sig = vec![0u8; 63];
        assert!(!is_low_s(Curve::P256, &sig));
        assert!(!normalize_low_s(Curve::P256, &mut sig));
        assert_eq!(sig, vec![0u8; 63]);
    }
}
