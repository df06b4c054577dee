//! `lmactl erase`: erases everything held about one person (ErasePerson) and leaves the
//! address suppressed, after a confirmation unless `--yes`.

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::Context as _;
use lma_proto::v1::ErasePersonRequest;
use lma_proto::v1::erase_person_request::Person;

use super::Output;
use crate::cli::EraseArgs;
use crate::failure::Refused;

pub async fn run(args: EraseArgs, out: &mut Output<'_>) -> anyhow::Result<()> {
    let (person, who) = match (&args.email, &args.prospect_id) {
        (Some(email), None) => (
            Person::Email(email.clone()),
            format!("the person with the address {}", masked(email)),
        ),
        (None, Some(id)) => (
            Person::ProspectId(id.clone()),
            format!("prospect {id} and every other prospect with its address"),
        ),
        // clap allows exactly one of them.
        _ => return Err(Refused::usage("give --email or --prospect-id")),
    };
    if !args.yes {
        confirm(&who, out)?;
    }
    let mut client = crate::grpc::privacy_client(&args.ingest).await?;
    let erased = client
        .erase_person(ErasePersonRequest {
            person: Some(person),
        })
        .await
        .context("ErasePerson")?
        .into_inner();
    let prospects = if erased.prospect_ids.is_empty() {
        "-".to_owned()
    } else {
        erased.prospect_ids.join(",")
    };
    writeln!(
        out.stdout,
        "erased prospects {prospects} legacy_customers {} suppression {} token {}",
        erased.legacy_customers_erased, erased.suppression_id, erased.consistency_token
    )?;
    Ok(())
}

/// Asks on the terminal; refuses to guess when there is nobody to ask.
fn confirm(who: &str, out: &mut Output<'_>) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Refused::usage(
            "erase asks for confirmation and stdin is not a terminal; nothing was erased. \
             Pass --yes to erase without asking",
        ));
    }
    write!(
        out.stderr,
        "Erase {who}: their prospects, legacy customer rows and search rows, and suppress the \
         address (reason erased)? This cannot be undone. Type yes to erase: "
    )?;
    out.stderr.flush()?;
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .context("reading the answer")?;
    anyhow::ensure!(
        answer.trim() == "yes",
        "nothing was erased (the answer was not yes)"
    );
    Ok(())
}

/// An address as a prompt may show it: its first character and its domain (`a***@acme.com`).
/// lmactl never prints an address whole.
fn masked(email: &str) -> String {
    let email = email.trim();
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::masked;

    #[test]
    fn masked_addresses_keep_one_character_and_the_domain() {
        assert_eq!(masked(" ann.smith@acme.com "), "a***@acme.com");
        assert_eq!(masked("@acme.com"), "***@acme.com");
        assert_eq!(masked("no address"), "***");
    }
}
