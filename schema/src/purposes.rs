//! The referral purposes as the policy file states them (`[referral_purposes.*]`): which
//! agency kinds may receive a referral for each purpose, how long it may last, and whether a
//! consent date must be recorded. `policy` compiles them (checked against the catalogue's
//! enums); the referral workflow (`referrals`) enforces them. Depends on nothing of ours.

use std::collections::BTreeMap;

/// What a purpose allows (`[referral_purposes.PURPOSE]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurposeRule {
    /// Agency kinds that may receive a referral for this purpose.
    pub receivers: Vec<String>,
    /// Longest lifetime of a referral, in days from now.
    pub max_days: i64,
    /// Whether `consentDate` must be given (e.g. a caregiver's consent for child protection).
    pub consent_date_required: bool,
}

pub type PurposeRules = BTreeMap<String, PurposeRule>;
