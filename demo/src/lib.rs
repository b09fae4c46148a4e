//! Demo data: a deterministic, synthetic caseload for Jakarta Pusat (region `31.71`).
//!
//! [`seed_demo`] fills an empty database with the agencies of [`DEMO_AGENCIES`] (plus the
//! detention centre `RUDENIM-JKT` and the Jakarta Utara city government `PEMKOT-JKU`, for
//! cross-jurisdiction tests), about 150 UNHCR cases with about 360 persons living in Jakarta
//! Pusat's 44 kelurahan, their UNHCR registrations, immigration records, violations and monthly
//! reports, shelters and placements, incidents, Tim PORA meetings and referrals.
//!
//! Every value comes from one `ChaCha8Rng` seeded with the caller's seed (ids included), and
//! every date is counted from a fixed base day, 2026-11-01, never from the clock: the same seed
//! always gives the same rows. All names, numbers and narratives are invented.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use entities::{
    action_item, agency, case, immigration_record, incident, incident_person, meeting,
    meeting_participant, monthly_report, person, placement, referral, shelter, unhcr_registration,
    violation,
};
use rand::distributions::{Distribution, WeightedIndex};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::{
    ActiveModelTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, IntoActiveModel,
    PaginatorTrait, TransactionTrait,
};

/// How many rows of each kind [`seed_demo`] inserted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeedSummary {
    pub agencies: usize,
    pub persons: usize,
    pub cases: usize,
    pub shelters: usize,
    pub placements: usize,
    pub incidents: usize,
    pub meetings: usize,
    pub referrals: usize,
    pub monthly_reports: usize,
    pub violations: usize,
}

/// Agency codes the demo data uses, by role name, with the agency's jurisdiction:
/// `(role, code, kind, name, jurisdiction)`.
#[rustfmt::skip]
pub const DEMO_AGENCIES: &[(&str, &str, &str, &str, &str)] = &[
    ("immigration", "KANIM-JKP", "IMMIGRATION", "Kantor Imigrasi Jakarta Pusat", "31.71"),
    ("unhcr", "UNHCR-JKT", "UNHCR", "UNHCR Jakarta", "31"),
    ("kesbangpol", "KESBANGPOL-JKP", "KESBANGPOL", "Kesbangpol Jakarta Pusat", "31.71"),
    ("police", "POLRES-JKP", "POLICE", "Polres Metro Jakarta Pusat", "31.71"),
    ("municipality", "PEMKOT-JKP", "MUNICIPALITY", "Pemerintah Kota Jakarta Pusat", "31.71"),
    ("iom", "IOM-JKT", "IOM", "IOM Jakarta", "31"),
];

/// Agencies beyond [`DEMO_AGENCIES`]: `(code, kind, name, jurisdiction)`.
#[rustfmt::skip]
const EXTRA_AGENCIES: &[(&str, &str, &str, &str)] = &[
    ("RUDENIM-JKT", "IMMIGRATION", "Rumah Detensi Imigrasi Jakarta", "31"),
    ("PEMKOT-JKU", "MUNICIPALITY", "Pemerintah Kota Jakarta Utara", "31.72"),
];

/// The 44 kelurahan of Jakarta Pusat (`31.71`), Kemendagri codes, from
/// `shared/regions-dki-jakarta.csv`.
#[rustfmt::skip]
const KELURAHAN_31_71: [&str; 44] = [
    "31.71.01.1001", "31.71.01.1002", "31.71.01.1003", "31.71.01.1004", "31.71.01.1005",
    "31.71.01.1006", "31.71.02.1001", "31.71.02.1002", "31.71.02.1003", "31.71.02.1004",
    "31.71.02.1005", "31.71.03.1001", "31.71.03.1002", "31.71.03.1003", "31.71.03.1004",
    "31.71.03.1005", "31.71.03.1006", "31.71.03.1007", "31.71.03.1008", "31.71.04.1001",
    "31.71.04.1002", "31.71.04.1003", "31.71.04.1004", "31.71.04.1005", "31.71.04.1006",
    "31.71.05.1001", "31.71.05.1002", "31.71.05.1003", "31.71.06.1001", "31.71.06.1002",
    "31.71.06.1003", "31.71.06.1004", "31.71.06.1005", "31.71.07.1001", "31.71.07.1002",
    "31.71.07.1003", "31.71.07.1004", "31.71.07.1005", "31.71.07.1006", "31.71.07.1007",
    "31.71.08.1001", "31.71.08.1002", "31.71.08.1003", "31.71.08.1004",
];

/// Names of [`KELURAHAN_31_71`], in the same order.
#[rustfmt::skip]
const KELURAHAN_31_71_NAMES: [&str; 44] = [
    "Gambir", "Cideng", "Petojo Utara", "Petojo Selatan", "Kebon Kelapa", "Duri Pulo", "Pasar Baru",
    "Karang Anyar", "Kartini", "Gunung Sahari Utara", "Mangga Dua Selatan", "Kemayoran",
    "Kebon Kosong", "Harapan Mulia", "Serdang", "Gunung Sahari Selatan", "Cempaka Baru",
    "Sumur Batu", "Utan Panjang", "Senen", "Kenari", "Paseban", "Kramat", "Kwitang", "Bungur",
    "Cempaka Putih Timur", "Cempaka Putih Barat", "Rawasari", "Menteng", "Pegangsaan", "Cikini",
    "Gondangdia", "Kebon Sirih", "Gelora", "Bendungan Hilir", "Karet Tengsin", "Petamburan",
    "Kebon Melati", "Kebon Kacang", "Kampung Bali", "Johar Baru", "Kampung Rawa", "Galur",
    "Tanah Tinggi",
];

/// The eight districts (kecamatan) of Jakarta Pusat.
const DISTRICTS_31_71: [(&str, &str); 8] = [
    ("31.71.01", "Gambir"),
    ("31.71.02", "Sawah Besar"),
    ("31.71.03", "Kemayoran"),
    ("31.71.04", "Senen"),
    ("31.71.05", "Cempaka Putih"),
    ("31.71.06", "Menteng"),
    ("31.71.07", "Tanah Abang"),
    ("31.71.08", "Johar Baru"),
];

/// A few kelurahan of Jakarta Utara (`31.72`), for the out-of-jurisdiction rows.
const KELURAHAN_31_72: [(&str, &str); 4] = [
    ("31.72.01.1001", "Penjaringan"),
    ("31.72.01.1005", "Pluit"),
    ("31.72.02.1001", "Tanjung Priok"),
    ("31.72.03.1001", "Koja"),
];

/// Rows per `INSERT`: keeps the bound parameters well under SQLite's limit.
const CHUNK_ROWS: usize = 200;

/// Households are added until there are at least this many persons.
const MIN_PERSONS: usize = 350;

#[rustfmt::skip]
const STREETS: &[&str] = &[
    "Kramat Raya", "Kramat Sentiong", "Salemba Tengah", "Kwitang", "Cikini Raya", "Kebon Sirih",
    "Tanah Tinggi", "Johar Baru Raya", "Percetakan Negara", "Paseban Raya", "Kalibaru Timur",
    "Bungur Besar", "Gunung Sahari", "Pasar Baru Timur", "Karet Pasar Baru", "Petamburan",
    "Kebon Kacang", "Cempaka Putih Tengah", "Rawasari Selatan", "Utan Panjang", "Kemayoran Gempol",
    "Galur Sari", "Kenari II", "Sumur Batu Raya",
];

#[rustfmt::skip]
const PHONE_PREFIXES: &[&str] = &[
    "812", "813", "821", "822", "852", "853", "857", "877", "878", "895", "896",
];

/// What the demo data knows about one nationality.
struct Nationality {
    code: &'static str,
    country: &'static str,
    demonym: &'static str,
    weight: u32,
    languages: &'static [&'static str],
    male: &'static [&'static str],
    female: &'static [&'static str],
    family: &'static [&'static str],
    religions: &'static [&'static str],
    ethnicities: &'static [&'static str],
    /// Share of adults who still hold a passport.
    passport_share: f64,
    passport_prefix: &'static str,
    /// Share of households that arrived by sea.
    sea_share: f64,
    route: &'static str,
    reasons: &'static [&'static str],
}

#[rustfmt::skip]
const NATIONALITIES: &[Nationality] = &[
    Nationality {
        code: "AFG",
        country: "Afghanistan",
        demonym: "Afghan",
        weight: 50,
        languages: &["Dari", "Pashto"],
        male: &[
            "Ahmad", "Mohammad", "Ali", "Hussain", "Reza", "Mustafa", "Hamid", "Jawad", "Sajjad",
            "Murtaza", "Abdul Karim", "Naser", "Zaher", "Farid", "Habib", "Sayed Ali",
        ],
        female: &[
            "Fatima", "Zahra", "Maryam", "Masooma", "Zainab", "Sakina", "Roya", "Nargis",
            "Shakila", "Farzana", "Parwana", "Nazanin", "Khadija", "Gulsoom",
        ],
        family: &[
            "Rahimi", "Hosseini", "Mohammadi", "Jafari", "Ahmadi", "Rezaei", "Karimi", "Sultani",
            "Haidari", "Nazari", "Sadiqi", "Yousufi", "Amiri", "Popal", "Wardak", "Sharifi",
        ],
        religions: &["Islam (Shia)", "Islam (Shia)", "Islam (Sunni)"],
        ethnicities: &["Hazara", "Hazara", "Hazara", "Tajik", "Pashtun"],
        passport_share: 0.5,
        passport_prefix: "P0",
        sea_share: 0.1,
        route: "Pakistan and Malaysia",
        reasons: &[
            "threats from the Taliban after a family member worked for a foreign contractor",
            "targeted attacks on the Hazara community in the home district",
            "forced recruitment attempts by an armed group",
            "the arrest of relatives by the de facto authorities",
        ],
    },
    Nationality {
        code: "SOM",
        country: "Somalia",
        demonym: "Somali",
        weight: 14,
        languages: &["Somali", "Arabic"],
        male: &[
            "Abdi", "Mohamed", "Hassan", "Abdirahman", "Abdullahi", "Ahmed", "Omar", "Yusuf",
            "Ismail", "Liban", "Farah", "Mahad",
        ],
        female: &[
            "Amina", "Hodan", "Fadumo", "Sahra", "Asha", "Halima", "Ikran", "Nasra", "Khadija",
            "Ayan", "Ubah", "Hibo",
        ],
        family: &[
            "Mohamed", "Hassan", "Ali", "Warsame", "Abdi", "Farah", "Jama", "Osman", "Aden",
            "Hersi", "Nur", "Egal",
        ],
        religions: &["Islam (Sunni)"],
        ethnicities: &["Somali", "Somali", "Somali Bantu"],
        passport_share: 0.3,
        passport_prefix: "P",
        sea_share: 0.15,
        route: "Kenya and Malaysia",
        reasons: &[
            "threats from al-Shabaab after refusing to pay levies",
            "clan violence in which a close relative was killed",
            "a forced marriage arranged by the extended family",
        ],
    },
    Nationality {
        code: "MMR",
        country: "Myanmar",
        demonym: "Rohingya",
        weight: 11,
        languages: &["Rohingya", "Burmese"],
        male: &[
            "Mohammed", "Nur", "Abul", "Rashid", "Anwar", "Kamal", "Shafi", "Zafar", "Hamid",
            "Ayub", "Jamal", "Sadek",
        ],
        female: &[
            "Rahima", "Noor", "Hasina", "Rokeya", "Sanjida", "Nurjahan", "Taslima", "Minara",
            "Shamsida", "Romida",
        ],
        family: &[
            "Hussain", "Alam", "Islam", "Rahman", "Ullah", "Karim", "Amin", "Hashim", "Salim",
            "Kabir",
        ],
        religions: &["Islam (Sunni)"],
        ethnicities: &["Rohingya"],
        passport_share: 0.0,
        passport_prefix: "",
        sea_share: 0.9,
        route: "Bangladesh and the Andaman Sea",
        reasons: &[
            "violence in northern Rakhine State and years in a displacement camp",
            "arbitrary arrest and denial of citizenship in Rakhine State",
        ],
    },
    Nationality {
        code: "IRQ",
        country: "Iraq",
        demonym: "Iraqi",
        weight: 5,
        languages: &["Arabic", "Kurdish"],
        male: &[
            "Ali", "Haider", "Mustafa", "Ahmed", "Karrar", "Omar", "Yasir", "Ammar", "Zaid",
            "Hussein",
        ],
        female: &[
            "Zahraa", "Noor", "Fatima", "Sara", "Hiba", "Rusul", "Maryam", "Aya", "Dunya", "Shahad",
        ],
        family: &[
            "Al-Jubouri", "Al-Obaidi", "Al-Tamimi", "Al-Saadi", "Kareem", "Hassan", "Al-Dulaimi",
            "Jaafar", "Rashid", "Barzani",
        ],
        religions: &["Islam (Shia)", "Islam (Sunni)", "Christianity", "Yazidi"],
        ethnicities: &["Arab", "Arab", "Kurdish"],
        passport_share: 0.7,
        passport_prefix: "A",
        sea_share: 0.05,
        route: "Turkey and Malaysia",
        reasons: &[
            "threats from a militia after a relative's arrest",
            "persecution as a member of a religious minority",
        ],
    },
    Nationality {
        code: "SDN",
        country: "Sudan",
        demonym: "Sudanese",
        weight: 5,
        languages: &["Arabic"],
        male: &[
            "Mohamed", "Ahmed", "Osman", "Abdelrahman", "Ibrahim", "Adam", "Yousif", "Hamid",
            "Mubarak", "Suleiman",
        ],
        female: &[
            "Fatima", "Amna", "Hawa", "Mariam", "Safa", "Nafisa", "Samia", "Zeinab", "Khadija",
            "Ikhlas",
        ],
        family: &[
            "Adam", "Abdalla", "Osman", "Ibrahim", "Elnour", "Hamid", "Babiker", "Musa", "Ishag",
            "Abakar",
        ],
        religions: &["Islam (Sunni)"],
        ethnicities: &["Fur", "Masalit", "Zaghawa", "Nuba"],
        passport_share: 0.6,
        passport_prefix: "P0",
        sea_share: 0.05,
        route: "Egypt and Malaysia",
        reasons: &[
            "attacks on the home village in Darfur",
            "arrest and ill-treatment after joining street protests",
        ],
    },
    Nationality {
        code: "YEM",
        country: "Yemen",
        demonym: "Yemeni",
        weight: 4,
        languages: &["Arabic"],
        male: &[
            "Mohammed", "Abdullah", "Ali", "Saleh", "Ahmed", "Khaled", "Fahd", "Nabil", "Waleed",
            "Hisham",
        ],
        female: &[
            "Fatima", "Amal", "Huda", "Arwa", "Bushra", "Afrah", "Ebtisam", "Rania", "Samira",
            "Wafa",
        ],
        family: &[
            "Al-Hakimi", "Al-Ahmadi", "Saleh", "Al-Yamani", "Al-Sharabi", "Al-Absi", "Nasser",
            "Al-Maqtari", "Al-Hubaishi", "Qassem",
        ],
        religions: &["Islam (Sunni)", "Islam (Zaidi)"],
        ethnicities: &["Arab"],
        passport_share: 0.75,
        passport_prefix: "0",
        sea_share: 0.0,
        route: "Oman and Malaysia",
        reasons: &[
            "the armed conflict and the shelling of the family's neighbourhood",
            "threats from an armed faction after refusing to join it",
        ],
    },
    Nationality {
        code: "PAK",
        country: "Pakistan",
        demonym: "Pakistani",
        weight: 4,
        languages: &["Urdu", "Punjabi"],
        male: &[
            "Muhammad", "Imran", "Bilal", "Usman", "Ahmed", "Farhan", "Kashif", "Naveed", "Asif",
            "Tariq",
        ],
        female: &[
            "Ayesha", "Saima", "Nadia", "Sana", "Rabia", "Amna", "Hina", "Mehwish", "Shazia",
            "Farah",
        ],
        family: &[
            "Khan", "Ahmed", "Qureshi", "Butt", "Malik", "Chaudhry", "Javed", "Iqbal", "Rana",
            "Masih",
        ],
        religions: &["Islam (Ahmadiyya)", "Christianity"],
        ethnicities: &["Punjabi", "Pashtun"],
        passport_share: 0.8,
        passport_prefix: "AB",
        sea_share: 0.0,
        route: "Thailand and Malaysia",
        reasons: &[
            "persecution as an Ahmadi and a blasphemy accusation",
            "threats from an extremist group after a family dispute",
        ],
    },
    Nationality {
        code: "LKA",
        country: "Sri Lanka",
        demonym: "Sri Lankan",
        weight: 3,
        languages: &["Tamil", "Sinhala"],
        male: &[
            "Tharshan", "Suresh", "Kumaran", "Mathivanan", "Sivakumar", "Jeyakumar", "Rajan",
            "Niroshan", "Pradeep", "Ganesh",
        ],
        female: &[
            "Tharshini", "Kavitha", "Nirosha", "Lakshmi", "Priya", "Vasuki", "Sumathi", "Dilani",
            "Jeyanthi", "Malathi",
        ],
        family: &[
            "Sivarajah", "Thevarajah", "Selvarajah", "Kanagaratnam", "Balasingham", "Nadarajah",
            "Ponnampalam", "Arumugam", "Yogarajah", "Ratnam",
        ],
        religions: &["Hinduism", "Christianity"],
        ethnicities: &["Tamil"],
        passport_share: 0.6,
        passport_prefix: "N",
        sea_share: 0.3,
        route: "Malaysia",
        reasons: &[
            "surveillance and detention over alleged links to the LTTE",
            "the abduction of a family member by unidentified men",
        ],
    },
    Nationality {
        code: "ETH",
        country: "Ethiopia",
        demonym: "Ethiopian",
        weight: 2,
        languages: &["Amharic", "Oromo"],
        male: &[
            "Abebe", "Dawit", "Tesfaye", "Getachew", "Yonas", "Mulugeta", "Bekele", "Tadesse",
            "Kebede", "Lemi",
        ],
        female: &[
            "Tigist", "Meron", "Hirut", "Selam", "Bethlehem", "Almaz", "Genet", "Mekdes", "Ayantu",
            "Chaltu",
        ],
        family: &[
            "Tadesse", "Bekele", "Mengistu", "Haile", "Gebre", "Abera", "Tefera", "Lemma",
            "Negash", "Gudina",
        ],
        religions: &["Christianity (Orthodox)", "Islam (Sunni)"],
        ethnicities: &["Oromo", "Amhara"],
        passport_share: 0.6,
        passport_prefix: "EP",
        sea_share: 0.0,
        route: "the Gulf and Malaysia",
        reasons: &[
            "detention on suspicion of supporting an opposition group", "ethnic violence in Oromia",
        ],
    },
    Nationality {
        code: "ERI",
        country: "Eritrea",
        demonym: "Eritrean",
        weight: 1,
        languages: &["Tigrinya", "Arabic"],
        male: &[
            "Tesfay", "Yonas", "Filmon", "Kibrom", "Mehari", "Samuel", "Biniam", "Dawit", "Habtom",
            "Medhanie",
        ],
        female: &[
            "Helen", "Senait", "Rahel", "Luwam", "Yordanos", "Mebrat", "Saba", "Winta", "Hiwet",
            "Semhar",
        ],
        family: &[
            "Tesfamariam", "Ghebremedhin", "Berhane", "Tekle", "Habte", "Woldu", "Kidane",
            "Asmerom", "Ghebreyesus", "Haile",
        ],
        religions: &[
            "Christianity (Orthodox)", "Christianity (Pentecostal)", "Islam (Sunni)",
        ],
        ethnicities: &["Tigrinya", "Tigre"],
        passport_share: 0.2,
        passport_prefix: "P",
        sea_share: 0.0,
        route: "Sudan and Malaysia",
        reasons: &[
            "evasion of indefinite national service",
            "persecution as a member of an unregistered church",
        ],
    },
    Nationality {
        code: "IRN",
        country: "Iran",
        demonym: "Iranian",
        weight: 1,
        languages: &["Persian"],
        male: &[
            "Reza", "Amir", "Hossein", "Mehdi", "Saeed", "Arash", "Behnam", "Kourosh", "Babak",
            "Farhad",
        ],
        female: &[
            "Maryam", "Leila", "Shirin", "Niloufar", "Parisa", "Sara", "Mahsa", "Nasrin", "Roya",
            "Azadeh",
        ],
        family: &[
            "Moradi", "Karimi", "Ahmadi", "Tehrani", "Rostami", "Jafari", "Kazemi", "Sadeghi",
            "Hashemi", "Mirzaei",
        ],
        religions: &["Christianity", "Baha'i", "Islam (Shia)"],
        ethnicities: &["Persian", "Kurdish", "Ahwazi Arab"],
        passport_share: 0.8,
        passport_prefix: "X",
        sea_share: 0.0,
        route: "Malaysia",
        reasons: &[
            "arrest after taking part in protests", "conversion to Christianity",
        ],
    },
];

/// One shelter of the demo data.
struct ShelterSpec {
    name: &'static str,
    kind: &'static str,
    operator: &'static str,
    region: &'static str,
    address: &'static str,
    latitude: f64,
    longitude: f64,
    capacity: (i32, i32),
}

const SHELTERS: &[ShelterSpec] = &[
    ShelterSpec {
        name: "Rumah Komunitas IOM Kramat",
        kind: "IOM_COMMUNITY_HOUSE",
        operator: "IOM-JKT",
        region: "31.71.04.1004",
        address: "Jl. Kramat Raya No. 118, Senen",
        latitude: -6.1876,
        longitude: 106.8448,
        capacity: (80, 120),
    },
    ShelterSpec {
        name: "Rumah Komunitas IOM Kwitang",
        kind: "IOM_COMMUNITY_HOUSE",
        operator: "IOM-JKT",
        region: "31.71.04.1005",
        address: "Jl. Kwitang Raya No. 27, Senen",
        latitude: -6.1832,
        longitude: 106.8392,
        capacity: (80, 120),
    },
    ShelterSpec {
        name: "Rumah Komunitas IOM Rawasari",
        kind: "IOM_COMMUNITY_HOUSE",
        operator: "IOM-JKT",
        region: "31.71.05.1003",
        address: "Jl. Rawasari Selatan No. 45, Cempaka Putih",
        latitude: -6.1849,
        longitude: 106.8681,
        capacity: (80, 120),
    },
    ShelterSpec {
        name: "Ruang Detensi Rudenim Jakarta - Kemayoran",
        kind: "DETENTION_CENTRE",
        operator: "RUDENIM-JKT",
        region: "31.71.03.1001",
        address: "Jl. Merpati Blok B-12 No. 3, Kemayoran",
        latitude: -6.1613,
        longitude: 106.8466,
        capacity: (30, 60),
    },
    ShelterSpec {
        name: "Penampungan Sementara GOR Johar Baru",
        kind: "TEMPORARY_SHELTER",
        operator: "PEMKOT-JKP",
        region: "31.71.08.1001",
        address: "Jl. Johar Baru Raya No. 9, Johar Baru",
        latitude: -6.1853,
        longitude: 106.8567,
        capacity: (40, 60),
    },
    ShelterSpec {
        name: "Penampungan Sementara Kebon Sirih",
        kind: "TEMPORARY_SHELTER",
        operator: "PEMKOT-JKP",
        region: "31.71.06.1005",
        address: "Jl. Kebon Sirih No. 64, Menteng",
        latitude: -6.1843,
        longitude: 106.8301,
        capacity: (40, 60),
    },
    ShelterSpec {
        name: "Penampungan Sementara Penjaringan",
        kind: "TEMPORARY_SHELTER",
        operator: "PEMKOT-JKU",
        region: "31.72.01.1001",
        address: "Jl. Pluit Karang Raya No. 12, Penjaringan",
        latitude: -6.1265,
        longitude: 106.7962,
        capacity: (20, 50),
    },
];

/// Indexes into [`SHELTERS`].
const IOM_HOUSES: [usize; 3] = [0, 1, 2];
const DETENTION_CENTRE: usize = 3;
/// Temporary shelters with their weights; the last one lies in `31.72`.
const TEMPORARY_SHELTERS: [(usize, u32); 3] = [(4, 45), (5, 45), (6, 10)];

/// Inserts the demo data unless the agencies table already has rows (then returns Ok(None)).
///
/// Everything is inserted in one transaction; the same `seed` always gives the same rows.
pub async fn seed_demo(db: &DatabaseConnection, seed: u64) -> Result<Option<SeedSummary>, DbErr> {
    let txn = db.begin().await?;
    if agency::Entity::find().count(&txn).await? > 0 {
        txn.rollback().await?;
        tracing::info!("agencies table is not empty; demo data not seeded");
        return Ok(None);
    }
    let data = build(seed);
    let summary = data.summary();
    insert_all::<agency::ActiveModel>(&txn, data.agencies, CHUNK_ROWS).await?;
    insert_all::<person::ActiveModel>(&txn, data.persons, CHUNK_ROWS).await?;
    insert_all::<case::ActiveModel>(&txn, data.cases, CHUNK_ROWS).await?;
    insert_all::<unhcr_registration::ActiveModel>(&txn, data.registrations, CHUNK_ROWS).await?;
    insert_all::<immigration_record::ActiveModel>(&txn, data.immigration_records, CHUNK_ROWS)
        .await?;
    insert_all::<violation::ActiveModel>(&txn, data.violations, CHUNK_ROWS).await?;
    insert_all::<monthly_report::ActiveModel>(&txn, data.monthly_reports, CHUNK_ROWS).await?;
    insert_all::<shelter::ActiveModel>(&txn, data.shelters, CHUNK_ROWS).await?;
    insert_all::<placement::ActiveModel>(&txn, data.placements, CHUNK_ROWS).await?;
    insert_all::<incident::ActiveModel>(&txn, data.incidents, CHUNK_ROWS).await?;
    insert_all::<incident_person::ActiveModel>(&txn, data.incident_persons, CHUNK_ROWS).await?;
    insert_all::<meeting::ActiveModel>(&txn, data.meetings, CHUNK_ROWS).await?;
    insert_all::<meeting_participant::ActiveModel>(&txn, data.meeting_participants, CHUNK_ROWS)
        .await?;
    insert_all::<action_item::ActiveModel>(&txn, data.action_items, CHUNK_ROWS).await?;
    insert_all::<referral::ActiveModel>(&txn, data.referrals, CHUNK_ROWS).await?;
    txn.commit().await?;
    tracing::info!(seed, ?summary, "demo data seeded");
    Ok(Some(summary))
}

/// Inserts `rows` with multi-row statements of at most `chunk` rows (SQLite and PostgreSQL
/// limit the bound parameters of one statement). Also used by the benchmark's bulk load.
pub async fn insert_all<A>(
    txn: &DatabaseTransaction,
    rows: Vec<<A::Entity as EntityTrait>::Model>,
    chunk: usize,
) -> Result<(), DbErr>
where
    A: ActiveModelTrait + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let rows_of_chunk: Vec<A> = rows
            .by_ref()
            .take(chunk)
            .map(IntoActiveModel::into_active_model)
            .collect();
        <A::Entity as EntityTrait>::insert_many(rows_of_chunk)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid demo date")
}

/// The fixed "today" of the demo data.
fn base_day() -> NaiveDate {
    day(2026, 11, 1)
}

fn at(date: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    date.and_hms_opt(hour, minute, 0)
        .expect("valid demo time")
        .and_utc()
}

/// Age in whole years on [`base_day`].
fn age_on_base(date_of_birth: NaiveDate) -> u32 {
    base_day().years_since(date_of_birth).unwrap_or(0)
}

fn json_list(items: &[&str]) -> String {
    serde_json::to_string(items).expect("a list of strings serializes")
}

/// The deterministic random source of one seeding.
struct Gen {
    rng: ChaCha8Rng,
}

impl Gen {
    fn id(&mut self) -> String {
        let mut bytes = [0u8; 16];
        self.rng.fill(&mut bytes);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }

    /// A number in `lo..=hi`.
    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        self.rng.gen_range(lo..=hi)
    }

    fn uint(&mut self, lo: u32, hi: u32) -> u32 {
        self.rng.gen_range(lo..=hi)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        *items.choose(&mut self.rng).expect("non-empty list")
    }

    fn weighted<T: Copy>(&mut self, items: &[(T, u32)]) -> T {
        let dist = WeightedIndex::new(items.iter().map(|(_, w)| *w)).expect("positive weights");
        items[dist.sample(&mut self.rng)].0
    }

    /// A day in `from..=to`.
    fn date_between(&mut self, from: NaiveDate, to: NaiveDate) -> NaiveDate {
        let span = (to - from).num_days().max(0);
        from + Duration::days(self.int(0, span))
    }

    /// A moment during office hours in Jakarta (UTC+7) on `date`.
    fn office_time(&mut self, date: NaiveDate) -> DateTime<Utc> {
        let hour = self.uint(1, 9);
        let minute = self.uint(0, 59);
        at(date, hour, minute)
    }

    /// `n` random decimal digits.
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.rng.gen_range(0..10u8)))
            .collect()
    }

    /// A value from `make` that is not yet in `used`.
    fn unique(&mut self, used: &mut HashSet<String>, make: impl Fn(&mut Self) -> String) -> String {
        loop {
            let value = make(self);
            if used.insert(value.clone()) {
                return value;
            }
        }
    }

    fn shuffled(&mut self, n: usize) -> Vec<usize> {
        let mut indexes: Vec<usize> = (0..n).collect();
        indexes.shuffle(&mut self.rng);
        indexes
    }
}

/// All rows of one seeding, in insertion order.
#[derive(Default)]
struct Dataset {
    agencies: Vec<agency::Model>,
    persons: Vec<person::Model>,
    cases: Vec<case::Model>,
    registrations: Vec<unhcr_registration::Model>,
    immigration_records: Vec<immigration_record::Model>,
    violations: Vec<violation::Model>,
    monthly_reports: Vec<monthly_report::Model>,
    shelters: Vec<shelter::Model>,
    placements: Vec<placement::Model>,
    incidents: Vec<incident::Model>,
    incident_persons: Vec<incident_person::Model>,
    meetings: Vec<meeting::Model>,
    meeting_participants: Vec<meeting_participant::Model>,
    action_items: Vec<action_item::Model>,
    referrals: Vec<referral::Model>,
}

impl Dataset {
    fn summary(&self) -> SeedSummary {
        SeedSummary {
            agencies: self.agencies.len(),
            persons: self.persons.len(),
            cases: self.cases.len(),
            shelters: self.shelters.len(),
            placements: self.placements.len(),
            incidents: self.incidents.len(),
            meetings: self.meetings.len(),
            referrals: self.referrals.len(),
            monthly_reports: self.monthly_reports.len(),
            violations: self.violations.len(),
        }
    }

    fn agency_id(&self, code: &str) -> String {
        self.agencies
            .iter()
            .find(|a| a.code == code)
            .map(|a| a.id.clone())
            .expect("demo agency exists")
    }
}

/// One UNHCR case (household) while it is being built.
struct Household {
    nat: &'static Nationality,
    arrival: Option<NaiveDate>,
    registration: NaiveDate,
    entry_mode: &'static str,
    legal_status: &'static str,
    file_status: &'static str,
    solution: &'static str,
    /// Indexes into `Dataset::persons`.
    members: Vec<usize>,
    unaccompanied: bool,
    /// Kind of the open placement, and the shelter (index into [`SHELTERS`]).
    placement: (&'static str, Option<usize>),
}

/// One member as planned, before names and details are drawn.
struct Member {
    relationship: &'static str,
    age: u32,
    male: bool,
}

fn build(seed: u64) -> Dataset {
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(seed),
    };
    let mut data = Dataset::default();
    build_agencies(&mut g, &mut data);
    build_shelters(&mut g, &mut data);
    let mut households = build_households(&mut g, &mut data);
    build_registrations(&mut g, &mut data, &households);
    build_immigration(&mut g, &mut data, &households);
    plan_placements(&mut g, &mut data, &mut households);
    build_placements(&mut g, &mut data, &households);
    fit_capacities(&mut data);
    build_referrals(&mut g, &mut data, &households);
    build_incidents(&mut g, &mut data);
    build_meetings(&mut g, &mut data);
    data
}

fn build_agencies(g: &mut Gen, data: &mut Dataset) {
    let created = at(day(2024, 1, 1), 0, 0);
    let all = DEMO_AGENCIES
        .iter()
        .map(|&(_, code, kind, name, jurisdiction)| (code, kind, name, jurisdiction))
        .chain(EXTRA_AGENCIES.iter().copied());
    for (code, kind, name, jurisdiction) in all {
        data.agencies.push(agency::Model {
            id: g.id(),
            code: code.to_owned(),
            kind: kind.to_owned(),
            name: name.to_owned(),
            jurisdiction: jurisdiction.to_owned(),
            valid_from: day(2024, 1, 1),
            valid_to: None,
            created_at: created,
            updated_at: created,
        });
    }
}

fn build_shelters(g: &mut Gen, data: &mut Dataset) {
    for spec in SHELTERS {
        let created = at(g.date_between(day(2019, 1, 1), day(2024, 12, 31)), 2, 0);
        // Around the listed point, to four decimals (about 11 m).
        let jitter = |g: &mut Gen, degrees: f64| {
            ((degrees * 10_000.0).round() as i64 + g.int(-20, 20)) as f64 / 10_000.0
        };
        let latitude = jitter(g, spec.latitude);
        let longitude = jitter(g, spec.longitude);
        let capacity = g.int(spec.capacity.0.into(), spec.capacity.1.into()) as i32;
        let operator_id = data.agency_id(spec.operator);
        data.shelters.push(shelter::Model {
            id: g.id(),
            name: spec.name.to_owned(),
            kind: spec.kind.to_owned(),
            operator_id: Some(operator_id),
            region: spec.region.to_owned(),
            address: spec.address.to_owned(),
            latitude: Some(latitude),
            longitude: Some(longitude),
            capacity,
            // Inserted before the placements: the triggers on `placements` count them in.
            occupancy: 0,
            created_at: created,
            updated_at: created,
        });
    }
}

/// Plans the members of one household of `size` persons.
fn plan_members(g: &mut Gen, size: usize, unaccompanied: bool) -> Vec<Member> {
    if unaccompanied {
        let male = g.chance(0.8);
        let age = g.uint(14, 17);
        return vec![Member {
            relationship: "FOCAL",
            age,
            male,
        }];
    }
    let mut relationships = vec!["FOCAL"];
    if size >= 2 && g.chance(0.72) {
        relationships.push("SPOUSE");
    }
    let mut parents = 0;
    while relationships.len() < size {
        let mut relationship = g.weighted(&[("CHILD", 70), ("SIBLING", 18), ("PARENT", 12)]);
        if relationship == "PARENT" {
            parents += 1;
            if parents > 2 {
                relationship = "CHILD";
            }
        }
        relationships.push(relationship);
    }
    let has_children = relationships.contains(&"CHILD");
    let has_spouse = relationships.contains(&"SPOUSE");
    let has_parent = relationships.contains(&"PARENT");
    let focal_age = match (has_children, has_parent) {
        (_, true) => g.uint(20, 48),
        (true, false) => g.uint(24, 56),
        (false, false) => g.uint(18, 60),
    };
    let focal_male = match (has_spouse, has_children) {
        (true, _) => g.chance(0.85),
        (false, true) => g.chance(0.45),
        (false, false) => g.chance(0.75),
    };
    relationships
        .into_iter()
        .map(|relationship| match relationship {
            "FOCAL" => Member {
                relationship,
                age: focal_age,
                male: focal_male,
            },
            "SPOUSE" => {
                let gap = g.uint(0, 8);
                let age = if focal_male {
                    focal_age.saturating_sub(gap).max(18)
                } else {
                    focal_age + gap
                };
                Member {
                    relationship,
                    age,
                    male: !focal_male,
                }
            }
            "CHILD" => {
                let age = if focal_age >= 38 && g.chance(0.25) {
                    g.uint(18, (focal_age - 18).min(26))
                } else {
                    g.uint(0, (focal_age - 18).min(17))
                };
                Member {
                    relationship,
                    age,
                    male: g.chance(0.5),
                }
            }
            "SIBLING" => {
                let age = (focal_age as i64 + g.int(-8, 8)).clamp(8, 70) as u32;
                Member {
                    relationship,
                    age,
                    male: g.chance(0.5),
                }
            }
            _ => {
                let age = (focal_age + g.uint(20, 32)).min(85);
                Member {
                    relationship,
                    age,
                    male: g.chance(0.5),
                }
            }
        })
        .collect()
}

/// A date of birth giving `age` whole years on [`base_day`].
fn date_of_birth(g: &mut Gen, age: u32) -> NaiveDate {
    let latest = day(2026 - age as i32, 11, 1);
    latest - Duration::days(g.int(0, 364))
}

/// Alternative spellings and orders of a name.
fn aliases(g: &mut Gen, full_name: &str, nat: &Nationality) -> Vec<String> {
    const VARIANTS: &[(&str, &str)] = &[
        ("Mohammad", "Muhammad"),
        ("Mohammed", "Muhammad"),
        ("Mohamed", "Mohamud"),
        ("Hussain", "Hussein"),
        ("Ahmad", "Ahmed"),
        ("Fatima", "Fatimah"),
        ("Zahra", "Zehra"),
        ("Hosseini", "Husaini"),
        ("Rezaei", "Rezai"),
        ("Yousufi", "Yusufi"),
        ("Abdi", "Cabdi"),
        ("Hassan", "Xasan"),
        ("Nur", "Noor"),
        ("Abdullah", "Abdallah"),
        ("Jafari", "Jaafari"),
    ];
    let count = g.weighted(&[(0usize, 62), (1, 28), (2, 10)]);
    let words: Vec<&str> = full_name.split(' ').collect();
    let mut candidates = Vec::new();
    if let Some((last, rest)) = words.split_last() {
        candidates.push(format!("{} {}", last.to_uppercase(), rest.join(" ")));
        candidates.push(format!("{} {}", rest.join(" "), g.pick(nat.family)));
    }
    for (from, to) in VARIANTS {
        if full_name.contains(from) {
            candidates.push(full_name.replace(from, to));
        }
    }
    let mut out: Vec<String> = Vec::new();
    for _ in 0..count {
        let alias = g
            .pick(&candidates.iter().map(String::as_str).collect::<Vec<_>>())
            .to_owned();
        if alias != full_name && !out.contains(&alias) {
            out.push(alias);
        }
    }
    out
}

fn specific_needs(
    g: &mut Gen,
    member: &Member,
    single_parent: bool,
    unaccompanied: bool,
) -> Vec<&'static str> {
    let mut needs = Vec::new();
    if unaccompanied {
        needs.push("UNACCOMPANIED_CHILD");
        if g.chance(0.4) {
            needs.push("CHILD_AT_RISK");
        }
        return needs;
    }
    if member.age < 18 {
        if g.chance(0.06) {
            needs.push("CHILD_AT_RISK");
        }
        if g.chance(0.03) {
            needs.push("DISABILITY");
        }
        return needs;
    }
    if single_parent {
        needs.push("SINGLE_PARENT");
    }
    if !member.male && (single_parent || g.chance(0.04)) && g.chance(0.5) {
        needs.push("WOMAN_AT_RISK");
    }
    if member.age >= 60 {
        needs.push("OLDER_PERSON");
    }
    for (need, p) in [
        ("SERIOUS_MEDICAL_CONDITION", 0.04),
        ("DISABILITY", 0.03),
        ("TORTURE_SURVIVOR", 0.03),
        ("LEGAL_PROTECTION", 0.02),
    ] {
        if g.chance(p) {
            needs.push(need);
        }
    }
    if !member.male && g.chance(0.03) {
        needs.push("SGBV_SURVIVOR");
    }
    needs
}

fn medical_notes(g: &mut Gen, needs: &[&str]) -> Option<String> {
    const SERIOUS: &[&str] = &[
        "Type 2 diabetes, on metformin; monthly check-up at the Puskesmas.",
        "Chronic kidney disease; dialysis twice a week at RSUD Tarakan.",
        "Tuberculosis, on treatment since this year (DOTS programme).",
        "Hypertension with a history of stroke; needs regular medication.",
        "Hepatitis B, under follow-up by the IOM doctor.",
    ];
    const DISABILITY: &[&str] = &[
        "Uses a wheelchair after a spinal injury.",
        "Partial hearing loss in both ears.",
        "Lower-limb amputation; uses a prosthesis.",
        "Visual impairment; needs assistance outside the home.",
    ];
    const MINOR: &[&str] = &[
        "Asthma; carries an inhaler.",
        "Seasonal skin infection, treated.",
        "Anaemia, on iron supplements.",
        "Dental treatment pending.",
        "Psychosocial support sessions with the IOM counsellor.",
    ];
    if needs.contains(&"SERIOUS_MEDICAL_CONDITION") {
        Some(g.pick(SERIOUS).to_owned())
    } else if needs.contains(&"DISABILITY") {
        Some(g.pick(DISABILITY).to_owned())
    } else if g.chance(0.06) {
        Some(g.pick(MINOR).to_owned())
    } else {
        None
    }
}

fn claim_narrative(nat: &Nationality, reason: &str, departure_year: i32, mode: &str) -> String {
    let travel = match mode {
        "SEA" => "by boat",
        "AIR" => "by air",
        "LAND" => "overland from Malaysia",
        _ => "by a route they could not describe",
    };
    format!(
        "Synthetic demo narrative. The applicant states that they left {} in {} because of {}. \
         They travelled via {} and reached Indonesia {}, and fear serious harm if returned.",
        nat.country, departure_year, reason, nat.route, travel
    )
}

fn build_households(g: &mut Gen, data: &mut Dataset) -> Vec<Household> {
    let nat_weights: Vec<(usize, u32)> = NATIONALITIES
        .iter()
        .enumerate()
        .map(|(i, n)| (i, n.weight))
        .collect();
    let arrival_years: &[(i32, u32)] = &[
        (2014, 4),
        (2015, 8),
        (2016, 10),
        (2017, 10),
        (2018, 9),
        (2019, 6),
        (2020, 3),
        (2021, 4),
        (2022, 8),
        (2023, 10),
        (2024, 10),
        (2025, 10),
        (2026, 8),
    ];
    let mut case_numbers = HashSet::new();
    let mut households = Vec::new();
    while data.persons.len() < MIN_PERSONS {
        let index = households.len();
        let unaccompanied = index % 20 == 7;
        let size = if unaccompanied {
            1
        } else {
            g.weighted(&[(1usize, 40), (2, 18), (3, 15), (4, 13), (5, 8), (6, 6)])
        };
        let nat = &NATIONALITIES[g.weighted(&nat_weights)];
        let year = g.weighted(arrival_years);
        let arrived = if year == 2026 {
            g.date_between(day(2026, 1, 1), day(2026, 7, 31))
        } else {
            g.date_between(day(year, 1, 1), day(year, 12, 31))
        };
        let registration = (arrived + Duration::days(g.int(7, 300))).min(day(2026, 9, 30));
        let arrival = (!g.chance(0.04)).then_some(arrived);
        let entry_mode = if arrival.is_none() {
            "UNKNOWN"
        } else if g.chance(nat.sea_share) {
            "SEA"
        } else {
            g.weighted(&[("AIR", 90), ("LAND", 3), ("UNKNOWN", 7)])
        };
        let recent = registration >= day(2025, 6, 1);
        let legal_status = if recent {
            g.weighted(&[
                ("REFUGEE", 20),
                ("ASYLUM_SEEKER", 75),
                ("REJECTED_FIRST_INSTANCE", 5),
            ])
        } else {
            g.weighted(&[
                ("REFUGEE", 68),
                ("ASYLUM_SEEKER", 20),
                ("REJECTED_FIRST_INSTANCE", 7),
                ("REJECTED_FINAL", 5),
            ])
        };
        let file_status = if legal_status == "REJECTED_FINAL" {
            g.weighted(&[("CLOSED", 70), ("INACTIVE", 30)])
        } else {
            g.weighted(&[("ACTIVE", 93), ("INACTIVE", 5), ("CLOSED", 2)])
        };
        let solution = if legal_status == "REFUGEE" {
            g.weighted(&[
                ("NONE", 85),
                ("RESETTLEMENT_SUBMITTED", 10),
                ("COMPLEMENTARY_PATHWAY", 3),
                ("VOLUNTARY_REPATRIATION", 2),
            ])
        } else {
            "NONE"
        };
        let kelurahan = g.int(0, KELURAHAN_31_71.len() as i64 - 1) as usize;
        let address = format!(
            "Jl. {} No. {}, RT {:03}/RW {:03}, Kel. {}",
            g.pick(STREETS),
            g.int(1, 180),
            g.int(1, 15),
            g.int(1, 12),
            KELURAHAN_31_71_NAMES[kelurahan]
        );
        let profiled = g.chance(0.55);
        let religion = g.pick(nat.religions);
        let ethnicity = g.pick(nat.ethnicities);
        let family = g.pick(nat.family);
        let reason = g.pick(nat.reasons);
        let departure = arrived - Duration::days(g.int(20, 200));
        let case_id = g.id();
        let yy = registration.year() % 100;
        let case_number = g.unique(&mut case_numbers, |g| {
            format!("JKT-{yy:02}C{}", g.digits(5))
        });

        let members = plan_members(g, size, unaccompanied);
        let single_parent = !members.iter().any(|m| m.relationship == "SPOUSE")
            && members
                .iter()
                .any(|m| m.relationship == "CHILD" && m.age < 18);
        let mut indexes = Vec::new();
        let mut focal_first = String::new();
        for member in &members {
            let first = g.pick(if member.male { nat.male } else { nat.female });
            let surname = match member.relationship {
                "FOCAL" | "CHILD" | "SIBLING" => family,
                "PARENT" if member.male => family,
                _ => g.pick(nat.family),
            };
            let full_name = if nat.code == "SOM" {
                let middle = if member.relationship == "CHILD" && !focal_first.is_empty() {
                    focal_first.clone()
                } else {
                    g.pick(nat.male).to_owned()
                };
                format!("{first} {middle} {surname}")
            } else {
                format!("{first} {surname}")
            };
            if member.relationship == "FOCAL" && member.male {
                focal_first = first.to_owned();
            }
            let date_of_birth = date_of_birth(g, member.age);
            let adult = member.age >= 18;
            let alias_list = aliases(g, &full_name, nat);
            let mut languages: Vec<&str> = nat.languages.to_vec();
            if adult && g.chance(0.25) {
                languages.push("English");
            }
            if registration < day(2022, 1, 1) && member.age >= 6 && g.chance(0.35) {
                languages.push("Indonesian");
            }
            let phone = if (adult && g.chance(0.85)) || (unaccompanied && g.chance(0.5)) {
                Some(format!("+62{}{}", g.pick(PHONE_PREFIXES), g.digits(8)))
            } else {
                None
            };
            let needs = specific_needs(
                g,
                member,
                single_parent && member.relationship == "FOCAL",
                unaccompanied,
            );
            let medical = medical_notes(g, &needs);
            let narrative = if (adult && g.chance(0.85)) || unaccompanied {
                Some(claim_narrative(nat, reason, departure.year(), entry_mode))
            } else {
                None
            };
            let created = at(registration.max(date_of_birth), 3, 0);
            let alias_refs: Vec<&str> = alias_list.iter().map(String::as_str).collect();
            indexes.push(data.persons.len());
            data.persons.push(person::Model {
                id: g.id(),
                full_name,
                aliases: json_list(&alias_refs),
                sex: if member.male { "MALE" } else { "FEMALE" }.to_owned(),
                date_of_birth,
                nationality: nat.code.to_owned(),
                languages: json_list(&languages),
                religion: profiled.then(|| religion.to_owned()),
                ethnicity: profiled.then(|| ethnicity.to_owned()),
                phone,
                residence_region: KELURAHAN_31_71[kelurahan].to_owned(),
                residence_address: Some(address.clone()),
                case_id: Some(case_id.clone()),
                relationship_to_focal: Some(member.relationship.to_owned()),
                specific_needs: json_list(&needs),
                medical_notes: medical,
                claim_narrative: narrative,
                created_at: created,
                updated_at: created,
            });
        }
        let created = at(registration, 3, 0);
        data.cases.push(case::Model {
            id: case_id,
            unhcr_case_number: case_number,
            focal_person_id: Some(data.persons[indexes[0]].id.clone()),
            arrival_date: arrival,
            registration_date: registration,
            created_at: created,
            updated_at: created,
        });
        households.push(Household {
            nat,
            arrival,
            registration,
            entry_mode,
            legal_status,
            file_status,
            solution,
            members: indexes,
            unaccompanied,
            placement: ("INDEPENDENT", None),
        });
    }
    households
}

fn build_registrations(g: &mut Gen, data: &mut Dataset, households: &[Household]) {
    let mut individual_numbers = HashSet::new();
    let mut refugee_cards = g.int(100, 400);
    let mut certificates = g.int(100, 400);
    for household in households {
        for &p in &household.members {
            let focal = p == household.members[0];
            if !g.chance(if focal { 0.98 } else { 0.93 }) {
                continue;
            }
            let yy = household.registration.year() % 100;
            let individual_number = g.unique(&mut individual_numbers, |g| {
                format!("JKT-{yy:02}-{}", g.digits(6))
            });
            let refugee = household.legal_status == "REFUGEE";
            let (document_type, document_number) = if refugee {
                refugee_cards += g.int(1, 25);
                ("REFUGEE_CARD", format!("RC-{refugee_cards:06}"))
            } else {
                certificates += g.int(1, 25);
                (
                    "ASYLUM_SEEKER_CERTIFICATE",
                    format!("ASC-{certificates:06}"),
                )
            };
            let document_expiry = if g.chance(0.2) {
                g.date_between(day(2025, 6, 1), day(2026, 10, 31))
            } else {
                g.date_between(day(2026, 11, 1), day(2028, 6, 1))
            };
            let created = data.persons[p].created_at;
            data.registrations.push(unhcr_registration::Model {
                id: g.id(),
                person_id: data.persons[p].id.clone(),
                individual_number,
                legal_status: household.legal_status.to_owned(),
                file_status: household.file_status.to_owned(),
                solution: household.solution.to_owned(),
                document_type: document_type.to_owned(),
                document_number,
                document_expiry,
                created_at: created,
                updated_at: created,
            });
        }
    }
}

fn build_immigration(g: &mut Gen, data: &mut Dataset, households: &[Household]) {
    let kanim = data.agency_id("KANIM-JKP");
    let mut card_number = g.int(1000, 2000);
    let mut adults_with_record = Vec::new();
    for household in households {
        let nat = household.nat;
        for &p in &household.members {
            if !g.chance(0.9) {
                continue;
            }
            let age = age_on_base(data.persons[p].date_of_birth);
            let share = if age >= 18 {
                nat.passport_share
            } else {
                nat.passport_share * 0.3
            };
            let has_passport = g.chance(share);
            let passport_number =
                has_passport.then(|| format!("{}{}", nat.passport_prefix, g.digits(7)));
            let (visa_type, visa_expiry) = match (household.entry_mode, household.arrival) {
                ("AIR", Some(arrival)) if has_passport => {
                    let (visa, days) = g.pick(&[("VOA", 30), ("B211A", 60), ("BVK", 30)]);
                    (Some(visa.to_owned()), Some(arrival + Duration::days(days)))
                }
                _ => (None, None),
            };
            let special_id_card_number = if g.chance(0.72) {
                card_number += g.int(1, 9);
                Some(format!("KTP-R-{card_number:07}"))
            } else {
                None
            };
            let created = data.persons[p].created_at;
            data.immigration_records.push(immigration_record::Model {
                id: g.id(),
                person_id: data.persons[p].id.clone(),
                passport_number,
                passport_country: has_passport.then(|| nat.code.to_owned()),
                entry_mode: household.entry_mode.to_owned(),
                visa_type,
                visa_expiry,
                special_id_card_number,
                supervising_office_id: Some(kanim.clone()),
                created_at: created,
                updated_at: created,
            });
            if age >= 18 {
                adults_with_record.push((p, household.registration));
            }
        }
    }

    const ARTICLES: &[(&str, u32)] = &[
        ("Perpres 125/2016 Pasal 33", 30),
        ("Perpres 125/2016 Pasal 34", 20),
        ("Perpres 125/2016 Pasal 36", 10),
        ("UU 6/2011 Pasal 71", 25),
        ("UU 6/2011 Pasal 75", 15),
    ];
    for _ in 0..30 {
        let (p, registration) = g.pick(&adults_with_record);
        let occurred_on = g.date_between(registration.max(day(2024, 1, 1)), day(2026, 10, 31));
        let created = g.office_time(occurred_on);
        data.violations.push(violation::Model {
            id: g.id(),
            person_id: data.persons[p].id.clone(),
            occurred_on,
            article: g.weighted(ARTICLES).to_owned(),
            action: g
                .weighted(&[("WARNING", 80), ("DETENTION", 15), ("DEPORTATION", 5)])
                .to_owned(),
            office_id: Some(kanim.clone()),
            created_at: created,
            updated_at: created,
        });
    }

    for (p, registration) in adults_with_record {
        for month in 5..=10 {
            let start = day(2026, month, 1);
            if registration > start + Duration::days(27) {
                continue;
            }
            let present = g.chance(0.9);
            let (reported_at, method) = if present {
                let on = day(2026, month, g.uint(1, 28));
                let reported = g.office_time(on);
                let method = g.weighted(&[("OFFICE", 50), ("FIELD_VISIT", 25), ("APP", 25)]);
                (Some(reported), Some(method.to_owned()))
            } else {
                (None, None)
            };
            let created = reported_at.unwrap_or_else(|| at(day(2026, month + 1, 1), 1, 0));
            data.monthly_reports.push(monthly_report::Model {
                id: g.id(),
                person_id: data.persons[p].id.clone(),
                period: format!("2026-{month:02}"),
                reported_at,
                method,
                present,
                created_at: created,
                updated_at: created,
            });
        }
    }
}

/// Decides each household's open placement: unaccompanied children in IOM houses, about 5 % of
/// persons (single adults) in detention, the rest by weight.
fn plan_placements(g: &mut Gen, data: &mut Dataset, households: &mut [Household]) {
    let target_detained = data.persons.len().div_ceil(20);
    let mut detained = 0;
    let order = g.shuffled(households.len());
    for &h in &order {
        let household = &households[h];
        if detained >= target_detained {
            break;
        }
        let single_adult = household.members.len() == 1
            && !household.unaccompanied
            && age_on_base(data.persons[household.members[0]].date_of_birth) >= 18;
        if single_adult {
            households[h].placement = ("DETENTION", Some(DETENTION_CENTRE));
            detained += 1;
        }
    }
    for household in households.iter_mut() {
        if household.placement.0 == "DETENTION" {
            continue;
        }
        let kind = if household.unaccompanied {
            "COMMUNITY_HOUSE"
        } else {
            g.weighted(&[
                ("COMMUNITY_HOUSE", 47),
                ("TEMPORARY_SHELTER", 11),
                ("INDEPENDENT", 42),
            ])
        };
        household.placement = match kind {
            "COMMUNITY_HOUSE" => (kind, Some(g.pick(&IOM_HOUSES))),
            "TEMPORARY_SHELTER" => (kind, Some(g.weighted(&TEMPORARY_SHELTERS))),
            _ => (kind, None),
        };
    }
}

fn placement_reason(g: &mut Gen, kind: &str) -> String {
    let options: &[&str] = match kind {
        "COMMUNITY_HOUSE" => &[
            "Moved to IOM community housing under the Perpres 125/2016 shelter arrangement.",
            "Placed in IOM community housing; vulnerable household prioritised.",
            "Transferred from detention to IOM community housing.",
        ],
        "DETENTION" => &[
            "Administrative detention pending identity verification (UU 6/2011 Pasal 83).",
            "Detained after repeated violations of reporting obligations.",
        ],
        "TEMPORARY_SHELTER" => &[
            "Temporary accommodation arranged by the city after eviction from a rented room.",
            "Relocated from a roadside encampment to the city's temporary shelter.",
        ],
        _ => &[
            "Self-supporting; living in rented accommodation.",
            "Living independently with support from a community organisation.",
        ],
    };
    g.pick(options).to_owned()
}

fn build_placements(g: &mut Gen, data: &mut Dataset, households: &[Household]) {
    let shelter_ids: Vec<String> = data.shelters.iter().map(|s| s.id.clone()).collect();
    for household in households {
        let (kind, shelter) = household.placement;
        let earliest = household.registration;
        let start = if kind == "DETENTION" {
            g.date_between(earliest.max(day(2026, 1, 1)), day(2026, 10, 20))
        } else {
            g.date_between(earliest, day(2026, 10, 20))
        };
        let decision_ref = (kind != "INDEPENDENT" || g.chance(0.5))
            .then(|| format!("W9.IMI.GR.01-{}", g.digits(4)));
        let reason = placement_reason(g, kind);
        let arrived = household.arrival.unwrap_or(household.registration);
        let previous = if (start - arrived).num_days() > 60 && g.chance(0.3) {
            let prev_kind = g.weighted(&[
                ("DETENTION", 40),
                ("TEMPORARY_SHELTER", 30),
                ("INDEPENDENT", 30),
            ]);
            let prev_shelter = match prev_kind {
                "DETENTION" => Some(DETENTION_CENTRE),
                "TEMPORARY_SHELTER" => Some(g.pick(&[4usize, 5])),
                _ => None,
            };
            let prev_start = arrived + Duration::days(g.int(0, 30));
            let prev_ref = format!("W9.IMI.GR.01-{}", g.digits(4));
            let prev_reason = placement_reason(g, prev_kind);
            Some((prev_kind, prev_shelter, prev_start, prev_ref, prev_reason))
        } else {
            None
        };
        for &p in &household.members {
            let person_id = data.persons[p].id.clone();
            if let Some((prev_kind, prev_shelter, prev_start, prev_ref, prev_reason)) = &previous {
                data.placements.push(placement::Model {
                    id: g.id(),
                    person_id: person_id.clone(),
                    shelter_id: prev_shelter.map(|s| shelter_ids[s].clone()),
                    kind: (*prev_kind).to_owned(),
                    start_date: *prev_start,
                    end_date: Some(start - Duration::days(1)),
                    decision_ref: Some(prev_ref.clone()),
                    reason: Some(prev_reason.clone()),
                    created_at: at(*prev_start, 4, 0),
                    updated_at: at(start, 4, 0),
                });
            }
            data.placements.push(placement::Model {
                id: g.id(),
                person_id,
                shelter_id: shelter.map(|s| shelter_ids[s].clone()),
                kind: kind.to_owned(),
                start_date: start,
                end_date: None,
                decision_ref: decision_ref.clone(),
                reason: Some(reason.clone()),
                created_at: at(start, 4, 0),
                updated_at: at(start, 4, 0),
            });
        }
    }
}

/// Raises a shelter's capacity to its occupancy where the random draw fell short.
fn fit_capacities(data: &mut Dataset) {
    for shelter in &mut data.shelters {
        let occupancy = data
            .placements
            .iter()
            .filter(|p| p.end_date.is_none() && p.shelter_id.as_deref() == Some(&shelter.id))
            .count() as i32;
        shelter.capacity = shelter.capacity.max(occupancy);
    }
}

fn build_referrals(g: &mut Gen, data: &mut Dataset, households: &[Household]) {
    let unhcr = data.agency_id("UNHCR-JKT");
    let kanim = data.agency_id("KANIM-JKP");
    let registered: HashSet<&str> = data
        .registrations
        .iter()
        .map(|r| r.person_id.as_str())
        .collect();
    // (person index, in an IOM house)
    let mut in_iom_house = vec![false; data.persons.len()];
    for household in households {
        for &p in &household.members {
            in_iom_house[p] = household.placement.0 == "COMMUNITY_HOUSE";
        }
    }
    let mut pool = g.shuffled(data.persons.len());
    let targets: [(&str, &[(&str, u32)]); 3] = [
        (
            "POLRES-JKP",
            &[
                ("DOCUMENT_VERIFICATION", 5),
                ("LOSS_REPORT", 3),
                ("PUBLIC_ORDER", 2),
            ],
        ),
        (
            "PEMKOT-JKP",
            &[
                ("CIVIL_REGISTRATION", 4),
                ("SHELTER", 3),
                ("CHILD_PROTECTION", 2),
                ("HEALTH", 2),
            ],
        ),
        (
            "IOM-JKT",
            &[("SHELTER", 4), ("HEALTH", 3), ("CHILD_PROTECTION", 2)],
        ),
    ];
    let statuses: [(&str, bool); 14] = [
        ("ACCEPTED", false),
        ("ACCEPTED", false),
        ("ACCEPTED", false),
        ("ACCEPTED", false),
        ("ACCEPTED", false),
        ("ACCEPTED", false),
        ("ACCEPTED", false),
        ("ACCEPTED", false),
        ("ACCEPTED", false),
        ("ACCEPTED", true),
        ("OPEN", false),
        ("OPEN", false),
        ("CLOSED", false),
        ("CLOSED", false),
    ];
    for (to_code, purposes) in targets {
        let to_agency_id = data.agency_id(to_code);
        for (status, expired) in statuses {
            let purpose = g.weighted(purposes);
            let wants_child = purpose == "CHILD_PROTECTION";
            let fits = |p: usize| {
                let child = age_on_base(data.persons[p].date_of_birth) < 18;
                child == wants_child
                    && (purpose != "DOCUMENT_VERIFICATION"
                        || registered.contains(data.persons[p].id.as_str()))
                    && (to_code != "IOM-JKT" || !in_iom_house[p])
            };
            let Some(slot) = pool.iter().position(|&p| fits(p)) else {
                continue;
            };
            let p = pool.remove(slot);
            let created_on = if expired {
                g.date_between(day(2025, 3, 1), day(2025, 11, 30))
            } else {
                g.date_between(day(2025, 9, 1), day(2026, 10, 25))
            };
            let expires_at = if expired {
                Some(at(day(2026, 1, 1), 0, 0))
            } else if g.chance(0.4) {
                None
            } else {
                Some(at(g.date_between(day(2027, 1, 1), day(2028, 12, 31)), 0, 0))
            };
            let consent_given = status == "ACCEPTED" || g.chance(0.75);
            let created_at = g.office_time(created_on);
            let updated_at = if status == "OPEN" {
                created_at
            } else {
                (created_at + Duration::days(g.int(1, 14))).min(at(base_day(), 0, 0))
            };
            let from = if g.chance(0.7) { &unhcr } else { &kanim };
            data.referrals.push(referral::Model {
                id: g.id(),
                person_id: data.persons[p].id.clone(),
                from_agency_id: from.clone(),
                to_agency_id: to_agency_id.clone(),
                purpose: purpose.to_owned(),
                consent_given,
                consent_date: consent_given.then_some(created_on),
                status: status.to_owned(),
                expires_at,
                note: None,
                reason: None,
                accepted_at: (status == "ACCEPTED").then_some(created_at),
                created_at,
                updated_at,
            });
        }
    }
}

fn headcount(g: &mut Gen, kind: &str) -> i32 {
    let (lo, hi) = match kind {
        "GATHERING" => (10, 80),
        "PROTEST" => (20, 200),
        "ENCAMPMENT" => (15, 120),
        "NEW_ARRIVAL" => (1, 12),
        "PUBLIC_ORDER" => (1, 6),
        "CRIME" => (1, 3),
        "HEALTH" => (1, 5),
        "DEATH" => (1, 1),
        _ => (1, 4),
    };
    g.int(lo, hi) as i32
}

/// `(location description, narrative, actions taken)` of one incident.
/// A narrative with the one matching action.
fn paired(
    g: &mut Gen,
    pairs: &'static [(&'static str, &'static str)],
) -> (String, &'static [&'static str]) {
    let pair = pairs.choose(&mut g.rng).expect("non-empty list");
    (pair.0.to_owned(), std::slice::from_ref(&pair.1))
}

fn incident_text(g: &mut Gen, kind: &str, place: &str, headcount: i32) -> (String, String, String) {
    const SPOTS: &[&str] = &[
        "Pedestrian area near the TransJakarta stop",
        "Open space beside the neighbourhood mosque",
        "Front yard of the kelurahan office",
        "Parking area of the community health centre",
        "Sidewalk along the main road",
        "Vacant lot behind the market",
        "Boarding house (kos) in a narrow alley",
    ];
    let weights: Vec<(&str, u32)> = NATIONALITIES
        .iter()
        .map(|n| (n.demonym, n.weight))
        .collect();
    let demonym = g.weighted(&weights);
    let location = format!("{}, Kel. {}", g.pick(SPOTS), place);
    let (narrative, actions): (String, &[&str]) = match kind {
        "GATHERING" => (
            format!(
                "About {headcount} refugees, mostly {demonym}, gathered to ask about resettlement \
                 processing and monthly assistance. The gathering was peaceful."
            ),
            &[
                "Officers monitored the gathering; kelurahan staff relayed the questions to UNHCR.",
                "Community leaders met the lurah; the group dispersed peacefully.",
            ],
        ),
        "PROTEST" => (
            format!(
                "Around {headcount} refugees held a demonstration with banners demanding faster \
                 resettlement. Traffic was briefly disrupted."
            ),
            &[
                "Police secured the area and managed traffic; a delegation of five was received.",
                "Kesbangpol facilitated a dialogue with representatives; the protest ended \
                 peacefully.",
            ],
        ),
        "ENCAMPMENT" => (
            format!(
                "{headcount} refugees, including families with children, set up tents on the \
                 sidewalk after running out of money for rent."
            ),
            &[
                "Satpol PP and social services moved the group to a temporary shelter.",
                "Social services distributed food and water; relocation planned with IOM.",
            ],
        ),
        "NEW_ARRIVAL" => (
            format!(
                "{headcount} newly arrived {demonym} nationals presented themselves and asked to \
                 be registered with UNHCR."
            ),
            &[
                "Referred to the immigration office for data collection and to UNHCR for \
                 registration.",
                "Immigration officers recorded identities; temporary accommodation arranged.",
            ],
        ),
        "PUBLIC_ORDER" => paired(
            g,
            &[
                (
                    "Neighbours complained about a dispute between refugee tenants and a \
                     boarding-house owner over unpaid rent.",
                    "Mediated by the RT/RW heads and the community police officer \
                     (Bhabinkamtibmas).",
                ),
                (
                    "Residents complained about late-night noise at a rented house shared by \
                     refugees.",
                    "Parties met at the kelurahan office and signed a written statement.",
                ),
                (
                    "Argument between refugees and local motorcycle-taxi drivers at an \
                     intersection.",
                    "Police separated the groups; community leaders agreed to meet the drivers.",
                ),
            ],
        ),
        "CRIME" => paired(
            g,
            &[
                (
                    "A refugee reported the theft of a mobile phone and identity documents.",
                    "Police report filed; UNHCR informed so that the documents can be replaced.",
                ),
                (
                    "Fight between two young men outside a boarding house; one slightly injured.",
                    "Settled through restorative justice at the police sector office.",
                ),
                (
                    "Shoplifting reported by a minimarket; the suspect is a refugee resident.",
                    "Suspect questioned by police; goods returned and the case settled.",
                ),
            ],
        ),
        "HEALTH" => paired(
            g,
            &[
                (
                    "A refugee resident collapsed and was taken to hospital.",
                    "Taken to the Puskesmas and referred to RSUD Tarakan; IOM covered the costs.",
                ),
                (
                    "Suspected dengue fever cases among residents of a shared house.",
                    "The health office carried out screening and fogging in the neighbourhood.",
                ),
                (
                    "A pregnant refugee woman needed emergency transport to hospital.",
                    "Ambulance called by the kelurahan; mother and baby discharged in good health.",
                ),
            ],
        ),
        "DEATH" => (
            "An elderly refugee died at home, reportedly of natural causes.".to_owned(),
            &[
                "Police and the health office verified the death; the community arranged the \
               burial with UNHCR.",
            ],
        ),
        _ => (
            format!(
                "{headcount} person(s) did not return to their accommodation and missed monthly \
                 reporting."
            ),
            &[
                "Reported to the immigration office; search coordinated with the police.",
                "Located and returned to accommodation; a warning was issued.",
            ],
        ),
    };
    (location, narrative, g.pick(actions).to_owned())
}

/// One incident before it becomes rows.
struct IncidentDraft<'a> {
    kind: &'a str,
    region: &'a str,
    /// Kelurahan name, for the location description.
    place: &'a str,
    headcount: i32,
    reporter: String,
    /// Indexes into `Dataset::persons`.
    involved: Vec<usize>,
}

fn push_incident(g: &mut Gen, data: &mut Dataset, draft: IncidentDraft<'_>) {
    let occurred_at = at(
        g.date_between(day(2026, 1, 1), day(2026, 10, 31)),
        g.uint(0, 23),
        g.uint(0, 59),
    );
    let (location, narrative, actions) = incident_text(g, draft.kind, draft.place, draft.headcount);
    let created = occurred_at + Duration::hours(2);
    let incident_id = g.id();
    for &p in &draft.involved {
        data.incident_persons.push(incident_person::Model {
            id: g.id(),
            incident_id: incident_id.clone(),
            person_id: data.persons[p].id.clone(),
            created_at: created,
            updated_at: created,
        });
    }
    data.incidents.push(incident::Model {
        id: incident_id,
        kind: draft.kind.to_owned(),
        occurred_at,
        region: draft.region.to_owned(),
        location_description: Some(location),
        headcount: Some(draft.headcount),
        narrative: Some(narrative),
        reporting_agency_id: Some(draft.reporter),
        actions_taken: Some(actions),
        created_at: created,
        updated_at: created,
    });
}

fn build_incidents(g: &mut Gen, data: &mut Dataset) {
    const KINDS: &[(&str, u32)] = &[
        ("GATHERING", 8),
        ("PROTEST", 5),
        ("ENCAMPMENT", 3),
        ("NEW_ARRIVAL", 6),
        ("PUBLIC_ORDER", 6),
        ("CRIME", 3),
        ("HEALTH", 5),
        ("DEATH", 1),
        ("ABSCONDING", 3),
    ];
    let reporters = [
        (data.agency_id("POLRES-JKP"), 50),
        (data.agency_id("PEMKOT-JKP"), 30),
        (data.agency_id("KESBANGPOL-JKP"), 20),
    ];
    // 40 incidents in Jakarta Pusat; 25 of those that are not deaths involve persons.
    let kinds: Vec<&str> = (0..40).map(|_| g.weighted(KINDS)).collect();
    let mut with_persons: Vec<usize> = g
        .shuffled(kinds.len())
        .into_iter()
        .filter(|&i| kinds[i] != "DEATH")
        .take(25)
        .collect();
    with_persons.sort_unstable();
    let mut involved_anywhere = HashSet::new();
    for (i, kind) in kinds.iter().copied().enumerate() {
        let kelurahan = g.int(0, KELURAHAN_31_71.len() as i64 - 1) as usize;
        let region = KELURAHAN_31_71[kelurahan];
        let mut count = headcount(g, kind);
        let involved: Vec<usize> = if with_persons.binary_search(&i).is_ok() {
            let n = g.int(1, 4) as usize;
            let district = &region[..8];
            let mut candidates: Vec<usize> = (0..data.persons.len())
                .filter(|&p| data.persons[p].residence_region.starts_with(district))
                .collect();
            if candidates.len() < n {
                candidates = (0..data.persons.len()).collect();
            }
            candidates.shuffle(&mut g.rng);
            candidates.truncate(n);
            count = count.max(n as i32);
            candidates
        } else {
            Vec::new()
        };
        let reporter = reporters[g.weighted(&[(0usize, 50), (1, 30), (2, 20)])]
            .0
            .clone();
        involved_anywhere.extend(involved.iter().copied());
        let draft = IncidentDraft {
            kind,
            region,
            place: KELURAHAN_31_71_NAMES[kelurahan],
            headcount: count,
            reporter,
            involved,
        };
        push_incident(g, data, draft);
    }
    // Three in Jakarta Utara, reported by its city government; one involves an adult who is in
    // no Jakarta Pusat incident and has no referral to the Jakarta Pusat police.
    let police = data.agency_id("POLRES-JKP");
    let jku = data.agency_id("PEMKOT-JKU");
    let referred_to_police: HashSet<String> = data
        .referrals
        .iter()
        .filter(|r| r.to_agency_id == police)
        .map(|r| r.person_id.clone())
        .collect();
    let outsider = g.shuffled(data.persons.len()).into_iter().find(|&p| {
        !involved_anywhere.contains(&p)
            && !referred_to_police.contains(&data.persons[p].id)
            && age_on_base(data.persons[p].date_of_birth) >= 18
    });
    for (kind, with_outsider) in [
        ("GATHERING", false),
        ("NEW_ARRIVAL", false),
        ("PUBLIC_ORDER", true),
    ] {
        let (region, place) = g.pick(&KELURAHAN_31_72);
        let involved: Vec<usize> = if with_outsider {
            outsider.into_iter().collect()
        } else {
            Vec::new()
        };
        let count = headcount(g, kind).max(involved.len() as i32);
        let draft = IncidentDraft {
            kind,
            region,
            place,
            headcount: count,
            reporter: jku.clone(),
            involved,
        };
        push_incident(g, data, draft);
    }
}

fn build_meetings(g: &mut Gen, data: &mut Dataset) {
    const AGENDA: &[&str] = &[
        "Update on refugee numbers and locations in Jakarta Pusat",
        "Shelter capacity and occupancy of the IOM community houses",
        "Follow-up on the roadside encampment in Kebon Sirih",
        "Compliance with monthly self-reporting",
        "New arrivals and their registration with UNHCR",
        "Public order complaints from residents",
        "Health referrals and their costs",
        "Resettlement departures and closed files",
        "Civil registration of births to refugee parents",
    ];
    const DECISIONS: &[&str] = &[
        "Kelurahan offices report new arrivals to the immigration office within 24 hours.",
        "Social services prepare an additional temporary shelter location.",
        "Police increase night patrols around the community houses.",
        "IOM shares updated occupancy figures every month.",
        "UNHCR holds an information session on resettlement criteria.",
        "Immigration verifies the documents of persons without a special ID card.",
    ];
    const ACTIONS: &[&str] = &[
        "Compile the list of households without a valid document.",
        "Survey a candidate location for a temporary shelter.",
        "Coordinate a joint field visit to the community houses.",
        "Send the monthly occupancy report to the task force secretariat.",
        "Hold a socialisation session with RT/RW heads.",
        "Draft a standard operating procedure for new arrivals.",
    ];
    const CITY_VENUES: &[&str] = &[
        "Ruang Rapat Kantor Imigrasi Kelas I Jakarta Pusat, Kemayoran",
        "Aula Kantor Kesbangpol Kota Administrasi Jakarta Pusat",
        "Ruang Rapat Sekretariat Kota Administrasi Jakarta Pusat, Jl. Tanah Abang I",
    ];
    let always = ["KANIM-JKP", "KESBANGPOL-JKP", "POLRES-JKP", "PEMKOT-JKP"];
    for (i, month) in (3..=10).enumerate() {
        let held_on = day(2026, month, g.uint(6, 26));
        let (level, region, venue) = if matches!(i, 2 | 5 | 7) {
            let (code, name) = g.pick(&DISTRICTS_31_71);
            ("DISTRICT", code, format!("Kantor Kecamatan {name}"))
        } else {
            ("CITY", "31.71", g.pick(CITY_VENUES).to_owned())
        };
        let chair_code = g.pick(&["KESBANGPOL-JKP", "KANIM-JKP"]);
        // UNHCR attends meetings 0, 2, 4, 6; IOM meetings 0, 1, 4, 5: both, either and neither.
        let mut codes: Vec<&str> = always.to_vec();
        if i % 2 == 0 {
            codes.push("UNHCR-JKT");
        }
        if (i / 2) % 2 == 0 {
            codes.push("IOM-JKT");
        }
        let mut topics = g.shuffled(AGENDA.len());
        topics.truncate(g.int(2, 3) as usize);
        let agenda: Vec<&str> = topics.iter().map(|&t| AGENDA[t]).collect();
        let mut chosen = g.shuffled(DECISIONS.len());
        chosen.truncate(g.int(1, 3) as usize);
        let decisions: Vec<&str> = chosen.iter().map(|&d| DECISIONS[d]).collect();
        let chair_name = data
            .agencies
            .iter()
            .find(|a| a.code == chair_code)
            .map(|a| a.name.clone())
            .expect("chair agency exists");
        let minutes = format!(
            "Synthetic minutes. Opened by {chair_name} at 09:00 WIB. Present: {}. Discussed: {}. \
             Decided: {} Closed at 11:30 WIB.",
            codes.join(", "),
            agenda.join("; "),
            decisions.join(" ")
        );
        let created = at(held_on, 8, 0);
        let meeting_id = g.id();
        data.meetings.push(meeting::Model {
            id: meeting_id.clone(),
            level: level.to_owned(),
            held_on,
            venue,
            region: region.to_owned(),
            chair_agency_id: Some(data.agency_id(chair_code)),
            agenda: Some(agenda.join("\n")),
            decisions: Some(decisions.join("\n")),
            minutes: Some(minutes),
            created_at: created,
            updated_at: created,
        });
        for code in &codes {
            data.meeting_participants.push(meeting_participant::Model {
                id: g.id(),
                meeting_id: meeting_id.clone(),
                agency_id: data.agency_id(code),
                created_at: created,
                updated_at: created,
            });
        }
        for _ in 0..g.int(1, 3) {
            let due_on = held_on + Duration::days(g.int(14, 45));
            let done = due_on < day(2026, 10, 15) && g.chance(0.75);
            let agency_id = data.agency_id(g.pick(&codes));
            data.action_items.push(action_item::Model {
                id: g.id(),
                meeting_id: meeting_id.clone(),
                agency_id: Some(agency_id),
                description: g.pick(ACTIONS).to_owned(),
                due_on: Some(due_on),
                status: if done { "DONE" } else { "OPEN" }.to_owned(),
                created_at: created,
                updated_at: if done { at(due_on, 8, 0) } else { created },
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use migrations::{Migrator, MigratorTrait};
    use sea_orm::{ColumnTrait, ConnectOptions, Database, QueryFilter, QueryOrder};

    /// A fresh, migrated in-memory SQLite database (one connection, so one database).
    async fn fresh_db() -> DatabaseConnection {
        let mut options = ConnectOptions::new("sqlite::memory:");
        options
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .sqlx_logging(false);
        let db = Database::connect(options).await.expect("connect to sqlite");
        Migrator::up(&db, None).await.expect("migrate");
        db
    }

    async fn persons(db: &DatabaseConnection) -> Vec<person::Model> {
        person::Entity::find()
            .order_by_asc(person::Column::Id)
            .all(db)
            .await
            .expect("list persons")
    }

    #[tokio::test]
    async fn seed_demo_is_plausible_idempotent_and_deterministic() {
        let db = fresh_db().await;
        let summary = seed_demo(&db, 42)
            .await
            .expect("seed")
            .expect("empty db gets seeded");
        assert!(seed_demo(&db, 42).await.expect("second seed").is_none());

        let people = persons(&db).await;
        assert_eq!(people.len(), summary.persons);
        assert!(summary.persons >= MIN_PERSONS, "{summary:?}");
        let children = people
            .iter()
            .filter(|p| age_on_base(p.date_of_birth) < 18)
            .count();
        let share = children as f64 / people.len() as f64;
        assert!((0.20..=0.35).contains(&share), "child share {share}");

        let count = |n: u64| n as usize;
        assert_eq!(
            count(agency::Entity::find().count(&db).await.unwrap()),
            summary.agencies
        );
        assert_eq!(
            count(case::Entity::find().count(&db).await.unwrap()),
            summary.cases
        );
        assert_eq!(
            count(monthly_report::Entity::find().count(&db).await.unwrap()),
            summary.monthly_reports
        );
        assert_eq!(
            count(placement::Entity::find().count(&db).await.unwrap()),
            summary.placements
        );
        let open_placements = placement::Entity::find()
            .filter(placement::Column::EndDate.is_null())
            .count(&db)
            .await
            .unwrap();
        assert_eq!(count(open_placements), summary.persons);

        // Every receiving agency has at least 8 accepted, unexpired referrals.
        let agencies = agency::Entity::find().all(&db).await.unwrap();
        let referrals = referral::Entity::find().all(&db).await.unwrap();
        let now = at(base_day(), 0, 0);
        for code in ["POLRES-JKP", "PEMKOT-JKP", "IOM-JKT"] {
            let id = &agencies.iter().find(|a| a.code == code).unwrap().id;
            let live = referrals
                .iter()
                .filter(|r| &r.to_agency_id == id && r.status == "ACCEPTED")
                .filter(|r| r.expires_at.is_none_or(|e| e > now))
                .count();
            assert!(live >= 8, "{code}: {live} live referrals");
        }

        // The same seed on another database gives the same rows; seeding also works from a
        // spawned task (the future is Send).
        let other = fresh_db().await;
        let again = tokio::spawn(async move {
            let summary = seed_demo(&other, 42).await.expect("seed");
            (summary, persons(&other).await)
        })
        .await
        .expect("seeding task");
        assert_eq!(again.0, Some(summary));
        let key = |p: &person::Model| (p.id.clone(), p.full_name.clone(), p.date_of_birth);
        assert_eq!(
            people.iter().map(key).collect::<Vec<_>>(),
            again.1.iter().map(key).collect::<Vec<_>>()
        );
    }

    #[test]
    fn seed_demo_data_depends_on_the_seed() {
        let a = build(1);
        let b = build(2);
        assert_ne!(a.persons[0].id, b.persons[0].id);
        assert_eq!(a.persons[0].id, build(1).persons[0].id);
    }

    #[test]
    fn seed_demo_kelurahan_are_those_of_jakarta_pusat() {
        let unique: HashSet<&str> = KELURAHAN_31_71.iter().copied().collect();
        assert_eq!(unique.len(), 44);
        assert!(
            KELURAHAN_31_71
                .iter()
                .all(|k| k.starts_with("31.71.") && k.len() == 13)
        );
        assert!(
            KELURAHAN_31_71
                .iter()
                .all(|k| DISTRICTS_31_71.iter().any(|(d, _)| k.starts_with(d)))
        );
    }
}
