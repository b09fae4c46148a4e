//! The command line: `serve`, `schema print`, `token …`, `policy check|explain|diff`, …

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::app::{Application, load_policy};
use crate::auth::{Authenticator, SigningKeys};
use crate::config::Config;
use crate::seed::DEMO_AGENCIES;

#[derive(Parser, Debug)]
#[command(
    name = "pora-gateway",
    version,
    about = "Federated GraphQL gateway for Tim PORA's shared refugee case data"
)]
pub struct Cli {
    /// Configuration file (TOML); environment variables PORA_* override it.
    #[arg(long, global = true, env = "PORA_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the gateway (migrations and demo data are applied first).
    Serve {
        /// Listen address, overriding the configuration (e.g. 127.0.0.1:0).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Load the demo data into an empty database, PostgreSQL too (the embedded database
        /// gets it unless `demo_data = false`).
        #[arg(long)]
        demo: bool,
        /// Answer without recording answers in the audit log. Only to measure what auditing
        /// costs; never with real case data.
        #[arg(long)]
        unsafe_no_audit: bool,
    },
    /// Print a role's GraphQL schema (SDL).
    Schema {
        #[command(subcommand)]
        command: SchemaCommand,
    },
    /// Development tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The configuration in effect (file, then `PORA_*` variables).
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Read, check and compare access policies (for the data-protection officer's sign-off).
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Check a policy file against the catalogue and build every role's schema from it; exit 1
    /// with `file:line: message` on the first problem.
    Check {
        /// The policy file; default: the configured one (`policy_file`), else the built-in.
        file: Option<PathBuf>,
    },
    /// Say in plain words what a role sees: types, fields, masks, row rules, writes,
    /// statistics and their thresholds, operations.
    Explain {
        #[arg(long)]
        role: String,
        /// The policy file; default: the configured one, else the built-in.
        file: Option<PathBuf>,
    },
    /// List per role every field, row rule, statistic and operation gained (+), lost (-) or
    /// changed (~) from OLD to NEW. `builtin` names the policy compiled into the binary.
    Diff { old: PathBuf, new: PathBuf },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print the effective configuration as TOML, secrets redacted.
    Print,
    /// Check the configuration, the policy and the schemas it gives; exit 1 on any problem.
    Check,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Add a new Ed25519 key that signs from now on; older keys keep verifying until their
    /// last token has expired. Prints the new key's `kid`.
    Rotate,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Walk the hash chain; exit 1 at the first altered, inserted or deleted event.
    Verify,
}

#[derive(Subcommand, Debug)]
pub enum SchemaCommand {
    /// Print the SDL of one role's schema, or (`--federation` alone) the composed
    /// Federation v2 SDL that routers compose, with every coordinate's scopes.
    Print {
        #[arg(long, required_unless_present = "federation")]
        role: Option<String>,
        /// Federation v2 subgraph SDL (`@link`, `@key`, scope directives).
        #[arg(long)]
        federation: bool,
    },
}

/// Where a managed token stands.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenState {
    Active,
    Expired,
    Revoked,
}

impl TokenState {
    fn of(token: &entities::access_token::Model, now: chrono::DateTime<chrono::Utc>) -> Self {
        if token.revoked_at.is_some() {
            TokenState::Revoked
        } else if token.expires_at < now {
            TokenState::Expired
        } else {
            TokenState::Active
        }
    }

    fn name(self) -> &'static str {
        match self {
            TokenState::Active => "active",
            TokenState::Expired => "expired",
            TokenState::Revoked => "revoked",
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Issue a managed token (stored, revocable); prints only the token.
    Issue {
        #[arg(long)]
        role: String,
        #[arg(long)]
        agency: String,
        /// Region-code prefix the token is limited to, e.g. 31.71.
        #[arg(long)]
        jurisdiction: String,
        /// Lifetime: 30m, 8h, 90d (at most the role's configured maximum).
        #[arg(long, default_value = "8h")]
        ttl: String,
        #[arg(long, default_value = "cli-user")]
        subject: String,
        #[arg(long)]
        purpose: Option<String>,
        #[arg(long)]
        note: Option<String>,
        /// Narrow the role: `Incident,Shelter:read,verifyDocument` (see docs/tokens.md).
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
        /// Print one JSON object (token, id, claims) instead of the token alone.
        #[arg(long)]
        json: bool,
    },
    /// List managed tokens (never their values), newest first.
    List {
        #[arg(long)]
        agency: Option<String>,
        #[arg(long)]
        role: Option<String>,
        #[arg(long, value_enum)]
        state: Option<TokenState>,
        /// One JSON object per token, one per line.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id (its `jti`); refused from the next request on.
    Revoke { id: String },
    /// Revoke every live token of an agency.
    RevokeAgency { agency: String },
    /// Print a signed development token (signed by the key in the data folder).
    Dev {
        #[arg(long)]
        role: String,
        /// Region-code prefix the token is limited to (default: the demo agency's).
        #[arg(long)]
        jurisdiction: Option<String>,
        /// Agency code (default: the role's demo agency).
        #[arg(long)]
        agency: Option<String>,
        #[arg(long, default_value = "dev-user")]
        subject: String,
        /// Lifetime in hours.
        #[arg(long, default_value_t = 8)]
        ttl_hours: i64,
    },
}

/// The policy in `file` (`builtin`: the one compiled into the binary), or the configured one.
fn policy_from(file: Option<&PathBuf>, config: &Config) -> Result<schema::Policy, String> {
    match file {
        Some(path) if path.as_os_str() == "builtin" => {
            schema::Policy::builtin().map_err(|e| e.to_string())
        }
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            schema::Policy::compile(&path.display().to_string(), &text).map_err(|e| e.to_string())
        }
        None => load_policy(config).map_err(|e| e.to_string()),
    }
}

/// Runs a command with the configuration loaded from `cli.config` and the environment.
pub async fn run(cli: Cli, mut config: Config) -> Result<(), String> {
    match cli.command {
        Command::Policy {
            command: PolicyCommand::Check { file },
        } => {
            let policy = policy_from(file.as_ref(), &config)?;
            let limiter = std::sync::Arc::new(schema::RateLimiter::new(config.verify_per_minute));
            crate::app::build_schemas(&policy, &config, &limiter).map_err(|e| e.to_string())?;
            println!(
                "policy ok: {} roles ({})",
                policy.roles.len(),
                policy.roles.keys().cloned().collect::<Vec<_>>().join(", ")
            );
            Ok(())
        }
        Command::Policy {
            command: PolicyCommand::Explain { role, file },
        } => {
            let policy = policy_from(file.as_ref(), &config)?;
            let view = policy.role(&role).ok_or_else(|| {
                format!(
                    "no role `{role}` (the policy has: {})",
                    policy.roles.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            })?;
            print!("{}", schema::explain::explain(view));
            Ok(())
        }
        Command::Policy {
            command: PolicyCommand::Diff { old, new },
        } => {
            let old = policy_from(Some(&old), &config)?;
            let new = policy_from(Some(&new), &config)?;
            let diff = schema::explain::diff(&old, &new);
            if diff.is_empty() {
                println!("no difference: every role is granted the same");
            } else {
                print!("{diff}");
            }
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Print,
        } => {
            let mut shown = config.clone();
            shown.database_url = shown.database_url.as_deref().map(crate::app::redact);
            shown.rate_limit_store = shown.rate_limit_store.as_deref().map(crate::app::redact);
            let text = toml::to_string_pretty(&shown).map_err(|e| e.to_string())?;
            println!("# The configuration in effect (secrets redacted).\n{text}");
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            let policy = load_policy(&config).map_err(|e| e.to_string())?;
            let limiter = std::sync::Arc::new(schema::RateLimiter::new(config.verify_per_minute));
            let schemas =
                crate::app::build_schemas(&policy, &config, &limiter).map_err(|e| e.to_string())?;
            crate::app::router_sdl(&schemas).map_err(|e| e.to_string())?;
            for issuer in &config.trusted_issuers {
                crate::auth::external::ExternalIssuer::new(
                    issuer.clone(),
                    &config.audience,
                    &policy.roles.keys().cloned().collect::<Vec<_>>(),
                )
                .map_err(|e| e.to_string())?;
            }
            println!(
                "configuration ok: {} roles ({}), database {}",
                policy.roles.len(),
                policy.roles.keys().cloned().collect::<Vec<_>>().join(", "),
                crate::app::redact(&config.database_url())
            );
            Ok(())
        }
        Command::Serve {
            listen,
            demo,
            unsafe_no_audit,
        } => {
            if let Some(listen) = listen {
                config.listen = listen;
            }
            if demo {
                config.demo_data = Some(true);
            }
            if unsafe_no_audit {
                config.audit_log = false;
            }
            let app = Application::build(config)
                .await
                .map_err(|e| e.to_string())?;
            print_welcome(&app);
            app.run_until_signalled().await.map_err(|e| e.to_string())
        }
        Command::Keys {
            command: KeysCommand::Rotate,
        } => {
            let kid = SigningKeys::rotate(&config.data_dir).map_err(|e| e.to_string())?;
            println!("{kid}");
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            config.demo_data = Some(false);
            let metrics = std::sync::Arc::new(crate::telemetry::Metrics::default());
            let db = crate::app::connect_existing(&config, &metrics)
                .await
                .map_err(|e| e.to_string())?;
            match crate::audit::verify(&db).await.map_err(|e| e.to_string())? {
                crate::audit::Verification::Intact { events } => {
                    println!("audit chain intact: {events} events");
                    Ok(())
                }
                crate::audit::Verification::Broken { seq, reason } => {
                    Err(format!("audit chain broken at event seq {seq}: {reason}"))
                }
            }
        }
        Command::Schema {
            command: SchemaCommand::Print { role, federation },
        } => {
            let policy = load_policy(&config).map_err(|e| e.to_string())?;
            let limiter = std::sync::Arc::new(schema::RateLimiter::new(config.verify_per_minute));
            let schemas =
                crate::app::build_schemas(&policy, &config, &limiter).map_err(|e| e.to_string())?;
            let Some(role) = role else {
                print!(
                    "{}",
                    crate::app::router_sdl(&schemas).map_err(|e| e.to_string())?
                );
                return Ok(());
            };
            let built = schemas.get(&role).ok_or_else(|| {
                format!(
                    "unknown role `{role}` (known: {})",
                    policy.roles.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            })?;
            print!("{}", crate::app::role_sdl(built, federation));
            Ok(())
        }
        Command::Token {
            command:
                TokenCommand::Issue {
                    role,
                    agency,
                    jurisdiction,
                    ttl,
                    subject,
                    purpose,
                    note,
                    scopes,
                    json,
                },
        } => {
            let (store, auth, allowed) = token_admin(&mut config, false).await?;
            let ttl = crate::admin::parse_ttl(&ttl)
                .ok_or_else(|| format!("`{ttl}` is not a lifetime like 30m, 8h or 90d"))?;
            let max = config.max_token_lifetime(&role);
            let request = crate::admin::IssueRequest {
                role,
                agency,
                jurisdiction,
                subject,
                ttl,
                purpose,
                note,
                issued_by: Some("cli".to_owned()),
                scopes,
            };
            let (token, model) = store
                .issue(&auth, request, max, &allowed)
                .await
                .map_err(|e| e.to_string())?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "token": token, "token_info": token_json(&model) })
                );
            } else {
                // The token alone on stdout stays pipeable; its id (for `token revoke`) on stderr.
                println!("{token}");
                eprintln!("id {}", model.id);
            }
            Ok(())
        }
        Command::Token {
            command:
                TokenCommand::List {
                    agency,
                    role,
                    state,
                    json,
                },
        } => {
            let (store, _, _) = token_admin(&mut config, true).await?;
            let now = chrono::Utc::now();
            if !json {
                println!(
                    "{:<36}  {:<12}  {:<16}  {:<13}  {:<8}  {:<25}  {:<20}  {:<20}  {:<12}  {:<20}  note",
                    "id",
                    "role",
                    "agency",
                    "jurisdiction",
                    "state",
                    "expires",
                    "subject",
                    "last use",
                    "purpose",
                    "scopes"
                );
            }
            for t in store
                .list(agency.as_deref())
                .await
                .map_err(|e| e.to_string())?
            {
                let current = TokenState::of(&t, now);
                if role.as_ref().is_some_and(|r| *r != t.role)
                    || state.is_some_and(|s| s != current)
                {
                    continue;
                }
                if json {
                    let mut line = token_json(&t);
                    line["state"] = serde_json::json!(current.name());
                    println!("{line}");
                    continue;
                }
                let scopes: Vec<String> = serde_json::from_str(&t.scopes).unwrap_or_default();
                let time = |d: &chrono::DateTime<chrono::Utc>| {
                    d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                };
                println!(
                    "{:<36}  {:<12}  {:<16}  {:<13}  {:<8}  {:<25}  {:<20}  {:<20}  {:<12}  {:<20}  {}",
                    t.id,
                    t.role,
                    t.agency,
                    t.jurisdiction,
                    current.name(),
                    time(&t.expires_at),
                    t.subject,
                    t.last_used_at.as_ref().map_or("never".to_owned(), time),
                    t.purpose.as_deref().unwrap_or("-"),
                    if scopes.is_empty() {
                        "(whole role)".to_owned()
                    } else {
                        scopes.join(",")
                    },
                    t.note.as_deref().unwrap_or("")
                );
            }
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Revoke { id },
        } => {
            let (store, _, _) = token_admin(&mut config, true).await?;
            if store.revoke(&id, "cli").await.map_err(|e| e.to_string())? {
                println!("revoked {id}");
                Ok(())
            } else {
                Err(format!("no live token with id `{id}`"))
            }
        }
        Command::Token {
            command: TokenCommand::RevokeAgency { agency },
        } => {
            let (store, _, _) = token_admin(&mut config, true).await?;
            let n = store
                .revoke_agency(&agency, "cli")
                .await
                .map_err(|e| e.to_string())?;
            println!("revoked {n} tokens of {agency}");
            println!(
                "cut off {agency}: every token of it issued until now is refused, stored or not"
            );
            Ok(())
        }
        Command::Token {
            command:
                TokenCommand::Dev {
                    role,
                    jurisdiction,
                    agency,
                    subject,
                    ttl_hours,
                },
        } => {
            let policy = load_policy(&config).map_err(|e| e.to_string())?;
            if policy.role(&role).is_none() {
                return Err(format!("unknown role `{role}`"));
            }
            if !(1..=crate::config::DEV_TOKEN_MAX_HOURS).contains(&ttl_hours) {
                return Err(format!(
                    "a development token lives 1 to {} hours",
                    crate::config::DEV_TOKEN_MAX_HOURS
                ));
            }
            let demo = DEMO_AGENCIES.iter().find(|a| a.0 == role);
            let agency = agency
                .or_else(|| demo.map(|a| a.1.to_owned()))
                .unwrap_or_else(|| crate::admin::ADMIN_AGENCY.to_owned());
            let jurisdiction = jurisdiction
                .or_else(|| demo.map(|a| a.4.to_owned()))
                .unwrap_or_else(|| "31".to_owned());
            if !schema::session::is_region_code(&jurisdiction) {
                return Err(format!(
                    "`{jurisdiction}` is not a region code (e.g. 31.71)"
                ));
            }
            let keys =
                SigningKeys::load_or_generate(&config.data_dir).map_err(|e| e.to_string())?;
            let auth = Authenticator::new(
                keys,
                &config.issuer,
                &config.audience,
                policy.roles.keys().cloned().collect(),
            );
            let token = auth
                .issue(
                    &role,
                    &agency,
                    &jurisdiction,
                    &subject,
                    chrono::Duration::hours(ttl_hours),
                )
                .map_err(|e| e.to_string())?;
            println!("{token}");
            Ok(())
        }
    }
}

/// A stored token as JSON (never its value).
fn token_json(t: &entities::access_token::Model) -> serde_json::Value {
    let scopes: Vec<String> = serde_json::from_str(&t.scopes).unwrap_or_default();
    serde_json::json!({
        "id": t.id,
        "role": t.role,
        "agency": t.agency,
        "jurisdiction": t.jurisdiction,
        "subject": t.subject,
        "purpose": t.purpose,
        "note": t.note,
        "scopes": scopes,
        "issued_by": t.issued_by,
        "issued_at": t.issued_at.to_rfc3339(),
        "expires_at": t.expires_at.to_rfc3339(),
        "revoked_at": t.revoked_at.map(|d| d.to_rfc3339()),
        "last_used_at": t.last_used_at.map(|d| d.to_rfc3339()),
    })
}

/// The token store, signer and what may be issued, for the token commands. `existing`: the
/// store must exist already (reading commands).
async fn token_admin(
    config: &mut Config,
    existing: bool,
) -> Result<
    (
        std::sync::Arc<crate::admin::TokenStore>,
        Authenticator,
        crate::admin::Issuable,
    ),
    String,
> {
    // A store made here is made as `serve` would make it (the embedded one with the demo
    // agencies), so tokens name agencies that exist.
    if existing {
        config.demo_data = Some(false);
    }
    let policy = load_policy(config).map_err(|e| e.to_string())?;
    let metrics = std::sync::Arc::new(crate::telemetry::Metrics::default());
    let db = if existing {
        crate::app::connect_existing(config, &metrics).await
    } else {
        crate::app::connect(config, &metrics).await
    }
    .map_err(|e| e.to_string())?;
    let keys = SigningKeys::load_or_generate(&config.data_dir).map_err(|e| e.to_string())?;
    let auth = Authenticator::new(
        keys,
        &config.issuer,
        &config.audience,
        policy.roles.keys().cloned().collect(),
    )
    .with_routers(&config.federation.routers);
    let allowed = crate::app::issuable(&policy, config);
    Ok((crate::admin::TokenStore::new(db), auth, allowed))
}

fn print_welcome(app: &Application) {
    let state = app.state();
    let url = format!("http://{}:{}/graphql", state.config.listen.ip(), app.port());
    println!("PORA Gateway listening on {url}");
    println!(
        "database: {}",
        crate::app::redact(&state.config.database_url())
    );
    println!();
    // Live tokens in a log are live credentials: printed only for the embedded demo, and never
    // an administrator's.
    if !(state.config.embedded() && state.config.demo_data()) {
        println!(
            "No development tokens printed (not the embedded demo). Mint one with `pora-gateway token dev --role <role>`."
        );
        return;
    }
    println!(
        "Development tokens (8 h; an administrator's: `pora-gateway token dev --role admin`):"
    );
    for role in state.policy.roles.keys().filter(|r| *r != "admin") {
        let demo = DEMO_AGENCIES.iter().find(|a| a.0 == role);
        let (agency, jurisdiction) =
            demo.map_or((crate::admin::ADMIN_AGENCY, "31"), |a| (a.1, a.4));
        match state.auth.issue(
            role,
            agency,
            jurisdiction,
            &format!("dev-{role}"),
            chrono::Duration::hours(8),
        ) {
            Ok(token) => {
                println!("\n[{role}] agency {agency}, jurisdiction {jurisdiction}");
                println!("  export TOKEN_{}={token}", role.to_uppercase());
                println!(
                    "  curl -s {url} -H \"Authorization: Bearer $TOKEN_{}\" -H 'Content-Type: application/json' -d '{{\"query\":\"{{ viewer {{ role agency jurisdiction }} }}\"}}'",
                    role.to_uppercase()
                );
            }
            Err(e) => println!("[{role}] cannot sign a token: {e}"),
        }
    }
    println!();
}
