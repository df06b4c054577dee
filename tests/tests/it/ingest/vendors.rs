//! ImportCsv with the files users bring from other tools: one export per vendor (header and value
//! shapes as the vendor writes them, rows invented; tests/fixtures/vendors) and a file with the
//! seeds' `Customer` header. Each test says which column fills which field, and where the stored
//! values land, on the prospect or on its company.

use lma_proto::v1::{CsvImportOptions, ImportReport};
use lma_tests::{TestApp, spawn_app};
use serde_json::{Value, json};

use super::import_csv;

/// Imports `tests/fixtures/vendors/<name>` under its own file name.
async fn import_file(app: &TestApp, name: &str) -> ImportReport {
    let path = format!("{}/fixtures/vendors/{name}", env!("CARGO_MANIFEST_DIR"));
    let csv = std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    let mut client = app.ingest_client().await;
    let options = CsvImportOptions {
        file_name: name.into(),
        ..Default::default()
    };
    let (report, _) = import_csv(&mut client, options, &csv)
        .await
        .expect("ImportCsv");
    report
}

/// Imports the fixture into a new app; every row must be stored.
async fn import_fixture(name: &str, rows: u64) -> (TestApp, ImportReport) {
    let app = spawn_app().await;
    let report = import_file(&app, name).await;
    let summary = report.summary.as_ref().expect("summary");
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    assert_eq!(summary.inserted, rows);
    (app, report)
}

/// The header columns that fill a field, and the field; every other column is unknown.
/// The recognized columns are exactly `expected`; every other named column is unknown and kept
/// as a custom field under its header name.
fn assert_mapping(report: &ImportReport, expected: &[(&str, &str)]) {
    let mut mapping: Vec<(&str, &str)> = report
        .column_mapping
        .iter()
        .map(|(header, field)| (header.as_str(), field.as_str()))
        .filter(|(header, _)| {
            !report
                .unknown_columns
                .iter()
                .any(|unknown| unknown == header)
        })
        .collect();
    for unknown in &report.unknown_columns {
        assert_eq!(
            report.column_mapping.get(unknown),
            Some(&format!("custom_fields[\"{unknown}\"]")),
            "{unknown} is kept"
        );
    }
    mapping.sort_unstable();
    let mut expected = expected.to_vec();
    expected.sort_unstable();
    assert_eq!(mapping, expected);
    for (header, _) in &expected {
        assert!(
            !report
                .unknown_columns
                .iter()
                .any(|unknown| unknown == header),
            "{header} is reported unknown"
        );
    }
}

/// The stored prospect with this email and its company, as JSON objects keyed by column.
async fn stored(app: &TestApp, email: &str) -> (Value, Value) {
    let row = app
        .db
        .connect()
        .await
        .query_one(
            "SELECT row_to_json(p)::text, row_to_json(c)::text \
             FROM prospect p JOIN company c ON c.id = p.company_id WHERE p.email = $1",
            &[&email],
        )
        .await
        .unwrap_or_else(|error| panic!("prospect {email}: {error}"));
    let parse = |index: usize| -> Value {
        serde_json::from_str(row.get::<_, &str>(index)).expect("row_to_json")
    };
    (parse(0), parse(1))
}

/// `record` holds each of these column values.
fn expect(what: &str, record: &Value, values: &[(&str, Value)]) {
    for (column, value) in values {
        assert_eq!(&record[*column], value, "{what}.{column}");
    }
}

#[tokio::test]
async fn an_apollo_contacts_export() {
    let (app, report) = import_fixture("apollo.csv", 2).await;
    assert_mapping(
        &report,
        &[
            ("First Name", "first_name"),
            ("Last Name", "last_name"),
            ("Title", "job_title"),
            ("Company", "company.name"),
            ("Email", "email"),
            ("Seniority", "job_title_level"),
            ("Departments", "department"),
            ("Work Direct Phone", "phone"),
            ("Mobile Phone", "mobile_phone"),
            ("# Employees", "company.employees"),
            ("Industry", "company.industry"),
            ("Person Linkedin Url", "job_title_link"),
            ("Website", "company.domain"),
            ("City", "city"),
            ("State", "state"),
            ("Country", "country"),
            ("Company Address", "company.address"),
            ("Company City", "company.city"),
            ("Company State", "company.state"),
            ("Company Country", "company.country"),
            ("Company Phone", "company.phone"),
            ("Annual Revenue", "company.revenue"),
            ("Apollo Contact Id", "external_id"),
            ("Apollo Account Id", "company.external_id"),
        ],
    );
    let (prospect, company) = stored(&app, "ada@analytical-engines.com").await;
    expect(
        "prospect",
        &prospect,
        &[
            ("external_source", json!("apollo")),
            ("external_id", json!("64b7f0c2a1e3d40001a1b2c3")),
            ("first_name", json!("Ada")),
            ("last_name", json!("Lovelace")),
            ("salutation", Value::Null),
            ("job_title", json!("VP Engineering")),
            ("job_title_level", json!("vp")),
            (
                "custom_fields",
                json!({
                    "Company Name for Emails": "Analytical Engines",
                    "Email Status": "Verified",
                    "Contact Owner": "sam@seller.example",
                    "First Phone": "+1 415-555-0101",
                    "Corporate Phone": "+1 415-555-0100",
                    "Stage": "Cold",
                    "Lists": "Q3 targets",
                    "Account Owner": "sam@seller.example",
                    "Keywords": "computing, engines",
                    "Company Linkedin Url": "http://www.linkedin.com/company/analytical-engines",
                    "SEO Description": "Engines that compute.",
                    "Technologies": "Salesforce, AWS",
                    "Email Sent": "false",
                    "Email Open": "false",
                    "Email Bounced": "false",
                    "Replied": "false",
                    "Demoed": "false"
                }),
            ),
            ("department", json!("Engineering & Technical")),
            ("phone", json!("+14155550101")),
            ("mobile_phone", json!("+14155550199")),
            (
                "job_title_link",
                json!("http://www.linkedin.com/in/ada-lovelace-0001"),
            ),
            ("city", json!("San Francisco")),
            ("state", json!("CA")),
            ("country", json!("United States of America")),
        ],
    );
    expect(
        "company",
        &company,
        &[
            ("domain", json!("analytical-engines.com")),
            ("name", json!("Analytical Engines")),
            ("industry", json!("information technology and services")),
            ("min_employees", json!(250)),
            ("max_employees", json!(250)),
            ("revenue", json!(12_500_000)),
            (
                "address",
                json!("1 Market St, San Francisco, California, United States, 94105"),
            ),
            ("city", json!("San Francisco")),
            ("state", json!("CA")),
            ("country", json!("United States of America")),
            ("phone", json!("+14155550100")),
            ("external_id", json!("64b7f0c2a1e3d40001d4e5f6")),
        ],
    );
    // The person's location stays the person's: Babbage lives in London, his company does not.
    let (prospect, company) = stored(&app, "charles@analytical-engines.com").await;
    expect(
        "prospect",
        &prospect,
        &[
            ("city", json!("London")),
            ("job_title", json!("Founder")),
            ("job_title_level", json!("owner")),
        ],
    );
    expect("company", &company, &[("city", json!("San Francisco"))]);
}

#[tokio::test]
async fn a_hubspot_contacts_export() {
    let (app, report) = import_fixture("hubspot.csv", 2).await;
    assert_mapping(
        &report,
        &[
            ("Record ID", "external_id"),
            ("First Name", "first_name"),
            ("Last Name", "last_name"),
            ("Email", "email"),
            ("Phone Number", "phone"),
            ("Mobile Phone Number", "mobile_phone"),
            ("Job Title", "job_title"),
            ("Company Name", "company.name"),
            ("Website URL", "company.domain"),
            ("Street Address", "address"),
            ("City", "city"),
            ("State/Region", "state"),
            ("Postal Code", "zip_code"),
            ("Country/Region", "country"),
            ("Industry", "company.industry"),
            ("Number of Employees", "company.employees"),
            ("Annual Revenue", "company.revenue"),
            ("Primary Associated Company ID", "company.external_id"),
        ],
    );
    let (prospect, company) = stored(&app, "grace@cobol-systems.com").await;
    expect(
        "prospect",
        &prospect,
        &[
            ("external_source", json!("hubspot")),
            ("external_id", json!("51")),
            ("first_name", json!("Grace")),
            ("last_name", json!("Hopper")),
            ("phone", json!("+12025550143")),
            ("mobile_phone", json!("+12025550177")),
            ("job_title", json!("Rear Admiral")),
            ("address", json!("1 Navy Way")),
            ("city", json!("Arlington")),
            ("state", json!("VA")),
            ("zip_code", json!("22201")),
            ("country", json!("United States of America")),
        ],
    );
    expect(
        "company",
        &company,
        &[
            ("domain", json!("cobol-systems.com")),
            ("name", json!("COBOL Systems")),
            ("industry", json!("computer software")),
            ("min_employees", json!(120)),
            ("max_employees", json!(120)),
            ("revenue", json!(3_400_000)),
            ("external_id", json!("9001")),
            // HubSpot's contact address is the person's.
            ("city", Value::Null),
        ],
    );
}

#[tokio::test]
async fn salesforce_contact_and_lead_exports() {
    let (app, report) = import_fixture("salesforce_contacts.csv", 2).await;
    assert_mapping(
        &report,
        &[
            ("Id", "external_id"),
            ("Salutation", "salutation"),
            ("FirstName", "first_name"),
            ("LastName", "last_name"),
            ("Title", "job_title"),
            ("Email", "email"),
            ("Phone", "phone"),
            ("MobilePhone", "mobile_phone"),
            ("Department", "department"),
            ("MailingStreet", "address"),
            ("MailingCity", "city"),
            ("MailingState", "state"),
            ("MailingPostalCode", "zip_code"),
            ("MailingCountry", "country"),
            ("AccountId", "company.external_id"),
        ],
    );
    let (prospect, company) = stored(&app, "katherine@orbital-math.com").await;
    expect(
        "prospect",
        &prospect,
        &[
            ("external_source", json!("salesforce")),
            ("external_id", json!("0035g00000ABCDEAA1")),
            ("salutation", json!("Dr.")),
            ("first_name", json!("Katherine")),
            ("last_name", json!("Johnson")),
            ("job_title", json!("Research Mathematician")),
            ("phone", json!("+17575550110")),
            ("mobile_phone", json!("+17575550111")),
            ("department", json!("Flight Research")),
            ("address", json!("1 Langley Blvd")),
            ("city", json!("Hampton")),
            ("state", json!("VA")),
            ("zip_code", json!("23666")),
            ("country", json!("United States of America")),
        ],
    );
    expect(
        "company",
        &company,
        &[
            ("domain", json!("orbital-math.com")),
            ("external_id", json!("0015g00000XYZ12AAA")),
            ("city", Value::Null),
        ],
    );

    let (app, report) = import_fixture("salesforce_leads.csv", 1).await;
    assert_eq!(report.unknown_columns, ["LeadSource"]);
    let (prospect, company) = stored(&app, "claude@information-theory.com").await;
    expect(
        "prospect",
        &prospect,
        &[
            // `Id` and the lead's columns are names other tools write too: not sure to be
            // Salesforce, so the file's name is the source.
            ("external_source", json!("csv:salesforce_leads.csv")),
            ("external_id", json!("00Q5g00000LMNOPEA1")),
            ("salutation", json!("Mr.")),
            ("job_title", json!("Chief Scientist")),
            ("address", json!("600 Mountain Ave")),
            ("city", json!("Murray Hill")),
            ("state", json!("NJ")),
            ("zip_code", json!("07974")),
            ("country", json!("United States of America")),
            ("mobile_phone", json!("+19085550121")),
        ],
    );
    expect(
        "company",
        &company,
        &[
            ("domain", json!("information-theory.com")),
            ("name", json!("Information Theory Inc")),
            ("industry", json!("technology")),
            ("min_employees", json!(75)),
            ("max_employees", json!(75)),
            ("revenue", json!(9_000_000)),
        ],
    );
}

#[tokio::test]
async fn a_zoominfo_contacts_export() {
    let (app, report) = import_fixture("zoominfo.csv", 1).await;
    assert_mapping(
        &report,
        &[
            ("ZoomInfo Contact ID", "external_id"),
            ("Last Name", "last_name"),
            ("First Name", "first_name"),
            ("Salutation", "salutation"),
            ("Job Title", "job_title"),
            ("Department", "department"),
            ("Direct Phone Number", "phone"),
            ("Email Address", "email"),
            ("Mobile phone", "mobile_phone"),
            ("LinkedIn Contact Profile URL", "job_title_link"),
            ("Person Street", "address"),
            ("Person City", "city"),
            ("Person State", "state"),
            ("Person Zip Code", "zip_code"),
            ("Country", "country"),
            ("ZoomInfo Company ID", "company.external_id"),
            ("Company Name", "company.name"),
            ("Website", "company.domain"),
            ("Company HQ Phone", "company.phone"),
            ("Revenue (in 000s USD)", "company.revenue"),
            ("Employees", "company.employees"),
            ("Management Level", "job_title_level"),
            ("Primary Industry", "company.industry"),
            ("Company Street Address", "company.address"),
            ("Company City", "company.city"),
            ("Company State", "company.state"),
            ("Company Zip Code", "company.zip_code"),
            ("Company Country", "company.country"),
        ],
    );
    let (prospect, company) = stored(&app, "margaret@guidance-computers.com").await;
    expect(
        "prospect",
        &prospect,
        &[
            ("external_source", json!("zoominfo")),
            ("external_id", json!("1234567890")),
            ("salutation", json!("Ms.")),
            ("first_name", json!("Margaret")),
            ("last_name", json!("Hamilton")),
            ("job_title", json!("Director of Software Engineering")),
            ("job_title_level", json!("director")),
            ("department", json!("Engineering & Technical")),
            ("phone", json!("+16175550123")),
            ("mobile_phone", json!("+16175550188")),
            (
                "job_title_link",
                json!("http://www.linkedin.com/in/margaret-hamilton-0003"),
            ),
            ("address", json!("75 Cambridge Pkwy")),
            ("city", json!("Cambridge")),
            ("state", json!("MA")),
            ("zip_code", json!("02142")),
            ("country", json!("United States of America")),
        ],
    );
    expect(
        "company",
        &company,
        &[
            ("domain", json!("guidance-computers.com")),
            ("name", json!("Guidance Computers")),
            ("phone", json!("+16175550100")),
            ("revenue", json!(48_000_000)),
            ("min_employees", json!(230)),
            ("max_employees", json!(230)),
            ("industry", json!("software")),
            ("address", json!("1 Kendall Sq")),
            ("city", json!("Cambridge")),
            ("state", json!("MA")),
            ("zip_code", json!("02139")),
            ("country", json!("United States of America")),
            ("external_id", json!("345678901")),
        ],
    );
}

#[tokio::test]
async fn a_sales_navigator_list_export_has_no_id_column() {
    let (app, report) = import_fixture("linkedin.csv", 2).await;
    assert_mapping(
        &report,
        &[
            ("First Name", "first_name"),
            ("Last Name", "last_name"),
            ("Email", "email"),
            ("Job Title", "job_title"),
            ("LinkedIn URL", "job_title_link"),
            ("Company", "company.name"),
        ],
    );
    let (prospect, company) = stored(&app, "barbara@substitution.io").await;
    expect(
        "prospect",
        &prospect,
        &[
            // No id column: the email is the key; no name of LinkedIn's own: the file's source.
            ("external_source", json!("csv:linkedin.csv")),
            ("external_id", json!("barbara@substitution.io")),
            ("first_name", json!("Barbara")),
            ("job_title", json!("Institute Professor")),
            (
                "job_title_link",
                json!("https://www.linkedin.com/in/barbara-liskov-0004"),
            ),
            ("city", Value::Null),
        ],
    );
    expect(
        "company",
        &company,
        &[
            ("domain", json!("substitution.io")),
            ("name", json!("Substitution Labs")),
        ],
    );
    // The key is the email in lower case, as it is stored.
    let (prospect, _) = stored(&app, "john.backus@substitution.io").await;
    expect(
        "prospect",
        &prospect,
        &[("external_id", json!("john.backus@substitution.io"))],
    );

    // The same list exported again updates the same prospects.
    let report = import_file(&app, "linkedin.csv").await;
    let summary = report.summary.expect("summary");
    assert_eq!((summary.inserted, summary.unchanged), (0, 2));
}

#[tokio::test]
async fn a_pipedrive_people_export() {
    let (app, report) = import_fixture("pipedrive.csv", 1).await;
    assert_mapping(
        &report,
        &[
            ("Person - ID", "external_id"),
            ("Person - First name", "first_name"),
            ("Person - Last name", "last_name"),
            ("Person - Label", "tags"),
            ("Person - Organization", "company.name"),
            ("Person - Email - Work", "email"),
            ("Person - Phone - Work", "phone"),
            ("Person - Phone - Mobile", "mobile_phone"),
            ("Person - Job title", "job_title"),
            ("Organization - ID", "company.external_id"),
            ("Organization - Address", "company.address"),
        ],
    );
    let (prospect, company) = stored(&app, "alan@enigma-analytics.co.uk").await;
    expect(
        "prospect",
        &prospect,
        &[
            ("external_source", json!("pipedrive")),
            ("external_id", json!("101")),
            ("first_name", json!("Alan")),
            ("last_name", json!("Turing")),
            ("tags", json!(["Hot lead"])),
            ("phone", json!("+442079460018")),
            ("mobile_phone", json!("+44 7700 900018")),
            ("job_title", json!("Head of Cryptanalysis")),
        ],
    );
    expect(
        "company",
        &company,
        &[
            ("domain", json!("enigma-analytics.co.uk")),
            ("name", json!("Enigma Analytics")),
            (
                "address",
                json!("Bletchley Park, Milton Keynes MK3 6EB, United Kingdom"),
            ),
            ("external_id", json!("77")),
        ],
    );
}

#[tokio::test]
async fn an_outreach_prospects_export() {
    let (app, report) = import_fixture("outreach.csv", 1).await;
    assert_mapping(
        &report,
        &[
            ("firstName", "first_name"),
            ("lastName", "last_name"),
            ("title", "job_title"),
            ("emails", "email"),
            ("company", "company.name"),
            ("addressStreet", "address"),
            ("addressCity", "city"),
            ("addressState", "state"),
            ("addressZip", "zip_code"),
            ("addressCountry", "country"),
            ("linkedInUrl", "job_title_link"),
            ("workPhones", "phone"),
            ("mobilePhones", "mobile_phone"),
            ("companyIndustry", "company.industry"),
            ("companySize", "company.employees"),
            ("tags", "tags"),
        ],
    );
    let (prospect, company) = stored(&app, "radia@spanning-tree.net").await;
    expect(
        "prospect",
        &prospect,
        &[
            ("external_source", json!("outreach")),
            ("external_id", json!("radia@spanning-tree.net")),
            ("first_name", json!("Radia")),
            ("last_name", json!("Perlman")),
            ("job_title", json!("Fellow")),
            ("address", json!("1 Bridge Rd")),
            ("city", json!("Seattle")),
            ("state", json!("WA")),
            ("zip_code", json!("98101")),
            ("country", json!("United States of America")),
            (
                "job_title_link",
                json!("https://www.linkedin.com/in/radia-perlman-0006"),
            ),
            ("phone", json!("+12065550150")),
            ("mobile_phone", json!("+12065550151")),
            ("tags", json!(["protocols"])),
        ],
    );
    expect(
        "company",
        &company,
        &[
            ("domain", json!("spanning-tree.net")),
            ("name", json!("Spanning Tree")),
            ("industry", json!("computer networking")),
            ("min_employees", json!(201)),
            ("max_employees", json!(500)),
        ],
    );
}

/// Every field of the seeds' `Customer` table, under its own name, is stored.
#[tokio::test]
async fn a_file_with_the_seeds_customer_header_loses_no_field() {
    let (app, report) = import_fixture("seeds_customer.csv", 1).await;
    assert!(
        report.unknown_columns.is_empty(),
        "{:?}",
        report.unknown_columns
    );
    assert_mapping(
        &report,
        &[
            ("salutation", "salutation"),
            ("firstName", "first_name"),
            ("lastName", "last_name"),
            ("email", "email"),
            ("phone", "phone"),
            ("mobilePhone", "mobile_phone"),
            ("jobTitle", "job_title"),
            ("jobTitleLevel", "job_title_level"),
            ("department", "department"),
            ("jobTitleLink", "job_title_link"),
            ("company", "company.name"),
            ("industry", "company.industry"),
            ("minEmployeeSize", "company.min_employees"),
            ("maxEmployeeSize", "company.max_employees"),
            ("employeeSizeLink", "company.employee_size_link"),
            ("revenue", "company.revenue"),
            ("address", "address"),
            ("city", "city"),
            ("state", "state"),
            ("country", "country"),
            ("zipCode", "zip_code"),
            ("externalSource", "external_source"),
            ("externalId", "external_id"),
        ],
    );
    let (prospect, company) = stored(&app, "frances@compiler-works.com").await;
    expect(
        "prospect",
        &prospect,
        &[
            ("salutation", json!("Ms.")),
            ("first_name", json!("Frances")),
            ("last_name", json!("Allen")),
            ("email", json!("frances@compiler-works.com")),
            ("phone", json!("+19145550160")),
            ("mobile_phone", json!("+19145550161")),
            ("job_title", json!("Fellow")),
            ("job_title_level", json!("senior")),
            ("department", json!("Research")),
            (
                "job_title_link",
                json!("https://www.linkedin.com/in/frances-allen-0007"),
            ),
            ("address", json!("1101 Kitchawan Rd")),
            ("city", json!("Yorktown Heights")),
            ("state", json!("NY")),
            ("country", json!("United States of America")),
            ("zip_code", json!("10598")),
            ("external_source", json!("legacy-crm")),
            ("external_id", json!("cust-0001")),
        ],
    );
    expect(
        "company",
        &company,
        &[
            ("domain", json!("compiler-works.com")),
            ("name", json!("Compiler Works")),
            ("industry", json!("software")),
            ("min_employees", json!(51)),
            ("max_employees", json!(200)),
            (
                "employee_size_link",
                json!("https://www.linkedin.com/company/compiler-works/people"),
            ),
            ("revenue", json!(7_000_000)),
        ],
    );
}
