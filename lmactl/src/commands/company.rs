//! `lmactl company get|search`: one company summary (GetCompany), or the companies matching a
//! filter (SearchCompanies).

use anyhow::Context as _;
use lma_proto::v1::get_company_request::Company;
use lma_proto::v1::{GetCompanyRequest, SearchCompaniesRequest};

use super::Output;
use crate::cli::{CompanyArgs, CompanyCommand, CompanyGetArgs, CompanySearchArgs};
use crate::output::{DocumentFormat, Format, RowWriter};
use crate::summary::{COMPANY, Selected};

pub async fn run(args: CompanyArgs, out: &mut Output<'_>) -> anyhow::Result<()> {
    match args.command {
        CompanyCommand::Get(args) => get(args, out).await,
        CompanyCommand::Search(args) => search(*args, out).await,
    }
}

/// A company id is digits only; a domain never is (it has a dot).
fn company(text: &str) -> Company {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        Company::CompanyId(text.to_owned())
    } else {
        Company::Domain(text.to_owned())
    }
}

async fn get(args: CompanyGetArgs, out: &mut Output<'_>) -> anyhow::Result<()> {
    let mut client = crate::grpc::search_client(&args.search).await?;
    let response = client
        .get_company(GetCompanyRequest {
            company: Some(company(&args.company)),
            min_token: args.consistency.min_token.clone().unwrap_or_default(),
            include_suppressed: args.include_suppressed,
        })
        .await
        .context("GetCompany")?
        .into_inner();
    let summary = response
        .company
        .context("GetCompany answered without a company")?;
    let columns = Selected::all(COMPANY);
    let values = columns.values(&summary);
    match args.output {
        Format::Table => crate::output::write_record(&mut *out.stdout, columns.names(), &values),
        Format::Json | Format::Jsonl => {
            let document = crate::output::json_object(columns.names(), values);
            let format = if args.output == Format::Json {
                DocumentFormat::Json
            } else {
                DocumentFormat::Jsonl
            };
            crate::output::write_document(&mut *out.stdout, format, &document)
        }
        Format::Csv => {
            let mut writer = RowWriter::new(&mut *out.stdout, Format::Csv, columns.names(), false)?
                .neutralizing_formulas(args.formulas.neutralize());
            writer.row(values)?;
            writer.finish()
        }
    }
}

async fn search(args: CompanySearchArgs, out: &mut Output<'_>) -> anyhow::Result<()> {
    let request = SearchCompaniesRequest {
        filter: Some(args.filter.to_proto()),
        sort: args.sort.unwrap_or_default(),
        page_size: args.page.page_size.unwrap_or_default(),
        page_token: args.page.page_token.clone().unwrap_or_default(),
        min_token: args.consistency.min_token.clone().unwrap_or_default(),
    };
    super::print_pages(
        &args.search,
        request,
        args.page.all,
        COMPANY,
        args.output,
        &args.formulas,
        out,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_an_id_and_anything_else_a_domain() {
        assert_eq!(company(" 42 "), Company::CompanyId("42".to_owned()));
        assert_eq!(company("acme.com"), Company::Domain("acme.com".to_owned()));
        assert_eq!(company("4.2"), Company::Domain("4.2".to_owned()));
    }
}
