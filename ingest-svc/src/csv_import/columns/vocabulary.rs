//! The header vocabulary: the column names of our own format, of the seeds' `Customer` table and
//! of the contact exports of the tools users come from, each with the field it fills. Sources
//! and the per-vendor list: docs/INGEST.md ("Recognized headers").
//!
//! Entries are written as the vendor writes the header; lookups compare normalized names (lower
//! case, letters and digits only), so `First Name`, `first_name` and `FirstName` are one name. A
//! normalized name may appear in several entries (one per spelling), always with one column.

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use super::Column;
use Column::*;
use Vendor::*;

/// Where a header name comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Vendor {
    /// Names this service has always accepted.
    Generic,
    /// The legacy `Customer` table of the seeds (camelCase field names).
    Seeds,
    Apollo,
    HubSpot,
    Salesforce,
    ZoomInfo,
    /// LinkedIn Sales Navigator lead lists, as the common export tools write them.
    LinkedIn,
    Pipedrive,
    Outreach,
}

impl Vendor {
    #[cfg(test)]
    pub const ALL: [Vendor; 9] = [
        Generic, Seeds, Apollo, HubSpot, Salesforce, ZoomInfo, LinkedIn, Pipedrive, Outreach,
    ];

    /// The tool's name; for a tool it is also the external_source of its files' rows.
    pub fn name(self) -> &'static str {
        match self {
            Generic => "generic",
            Seeds => "seeds",
            Apollo => "apollo",
            HubSpot => "hubspot",
            Salesforce => "salesforce",
            ZoomInfo => "zoominfo",
            LinkedIn => "linkedin",
            Pipedrive => "pipedrive",
            Outreach => "outreach",
        }
    }

    /// A third-party tool (not our own names, not the seeds).
    pub fn is_tool(self) -> bool {
        !matches!(self, Generic | Seeds)
    }
}

/// One header name of one or more vendors.
pub struct Entry {
    /// As the vendor writes it.
    pub header: &'static str,
    pub column: Column,
    pub vendors: &'static [Vendor],
}

const fn entry(header: &'static str, column: Column, vendors: &'static [Vendor]) -> Entry {
    Entry {
        header,
        column,
        vendors,
    }
}

/// The vocabulary, grouped by the field filled.
pub const VOCABULARY: &[Entry] = &[
    // external_source
    entry("external_source", ExternalSource, &[Generic]),
    entry("source", ExternalSource, &[Generic]),
    entry("externalSource", ExternalSource, &[Seeds]),
    // external_id: the record's id in its source
    entry("external_id", ExternalId, &[Generic]),
    entry("id", ExternalId, &[Generic]),
    entry("record_id", ExternalId, &[Generic]),
    entry("contact_id", ExternalId, &[Generic]),
    entry("lead_id", ExternalId, &[Generic]),
    entry("prospect_id", ExternalId, &[Generic]),
    entry("crm_id", ExternalId, &[Generic]),
    entry("externalId", ExternalId, &[Seeds]),
    entry("Apollo Contact Id", ExternalId, &[Apollo]),
    entry("Record ID", ExternalId, &[HubSpot]),
    entry("Id", ExternalId, &[Salesforce]),
    entry("Contact ID", ExternalId, &[Salesforce]),
    entry("Lead ID", ExternalId, &[Salesforce]),
    entry("ZoomInfo Contact ID", ExternalId, &[ZoomInfo]),
    entry("Person - ID", ExternalId, &[Pipedrive]),
    // salutation ("Ms."); a `Title` column is the job title
    entry("salutation", Salutation, &[Generic, Seeds]),
    entry("prefix", Salutation, &[Generic]),
    entry("Salutation", Salutation, &[Salesforce, ZoomInfo]),
    // first_name
    entry("first_name", FirstName, &[Generic]),
    entry("given_name", FirstName, &[Generic]),
    entry("forename", FirstName, &[Generic]),
    entry("firstName", FirstName, &[Seeds, Outreach]),
    entry(
        "First Name",
        FirstName,
        &[Apollo, HubSpot, Salesforce, ZoomInfo, LinkedIn],
    ),
    entry("FirstName", FirstName, &[Salesforce]),
    entry("Person - First name", FirstName, &[Pipedrive]),
    // last_name
    entry("last_name", LastName, &[Generic]),
    entry("surname", LastName, &[Generic]),
    entry("family_name", LastName, &[Generic]),
    entry("lastName", LastName, &[Seeds, Outreach]),
    entry(
        "Last Name",
        LastName,
        &[Apollo, HubSpot, Salesforce, ZoomInfo, LinkedIn],
    ),
    entry("LastName", LastName, &[Salesforce]),
    entry("Person - Last name", LastName, &[Pipedrive]),
    // email
    entry("email", Email, &[Generic, Seeds]),
    entry("email_address", Email, &[Generic]),
    entry("work_email", Email, &[Generic]),
    entry("business_email", Email, &[Generic]),
    entry("mail", Email, &[Generic]),
    entry("Email", Email, &[Apollo, HubSpot, Salesforce, LinkedIn]),
    entry("Email Address", Email, &[ZoomInfo, LinkedIn]),
    entry("Person - Email", Email, &[Pipedrive]),
    entry("Person - Email - Work", Email, &[Pipedrive]),
    entry("emails", Email, &[Outreach]),
    // job_title
    entry("job_title", JobTitle, &[Generic]),
    entry("title", JobTitle, &[Generic, Outreach]),
    entry("position", JobTitle, &[Generic]),
    entry("role", JobTitle, &[Generic]),
    entry("jobTitle", JobTitle, &[Seeds]),
    entry("Title", JobTitle, &[Apollo, Salesforce]),
    entry("Job Title", JobTitle, &[HubSpot, ZoomInfo, LinkedIn]),
    entry("Position", JobTitle, &[LinkedIn]),
    entry("Person - Job title", JobTitle, &[Pipedrive]),
    // job_title_level
    entry("job_title_level", JobTitleLevel, &[Generic]),
    entry("seniority", JobTitleLevel, &[Generic]),
    entry("level", JobTitleLevel, &[Generic]),
    entry("jobTitleLevel", JobTitleLevel, &[Seeds]),
    entry("Seniority", JobTitleLevel, &[Apollo]),
    // department
    entry("department", Department, &[Generic, Seeds]),
    entry("Departments", Department, &[Apollo]),
    entry("Department", Department, &[Salesforce, ZoomInfo]),
    // job_title_link: the person's profile page
    entry("job_title_link", JobTitleLink, &[Generic]),
    entry("linkedin", JobTitleLink, &[Generic]),
    entry("linkedin_url", JobTitleLink, &[Generic]),
    entry("profile_url", JobTitleLink, &[Generic]),
    entry("jobTitleLink", JobTitleLink, &[Seeds]),
    entry("Person Linkedin Url", JobTitleLink, &[Apollo]),
    entry("LinkedIn Contact Profile URL", JobTitleLink, &[ZoomInfo]),
    entry("LinkedIn URL", JobTitleLink, &[LinkedIn]),
    entry("linkedInUrl", JobTitleLink, &[Outreach]),
    // address (the person's)
    entry("address", Address, &[Generic, Seeds]),
    entry("street", Address, &[Generic]),
    entry("street_address", Address, &[Generic]),
    entry("Street Address", Address, &[HubSpot]),
    entry("MailingStreet", Address, &[Salesforce]),
    entry("Mailing Street", Address, &[Salesforce]),
    entry("Street", Address, &[Salesforce]),
    entry("Person Street", Address, &[ZoomInfo]),
    entry("addressStreet", Address, &[Outreach]),
    // city (the person's)
    entry("city", City, &[Generic, Seeds]),
    entry("City", City, &[Apollo, HubSpot, Salesforce]),
    entry("MailingCity", City, &[Salesforce]),
    entry("Mailing City", City, &[Salesforce]),
    entry("Person City", City, &[ZoomInfo]),
    entry("addressCity", City, &[Outreach]),
    // state (the person's)
    entry("state", State, &[Generic, Seeds]),
    entry("region", State, &[Generic]),
    entry("province", State, &[Generic]),
    entry("State", State, &[Apollo, Salesforce]),
    entry("State/Region", State, &[HubSpot]),
    entry("MailingState", State, &[Salesforce]),
    entry("Mailing State", State, &[Salesforce]),
    entry("Person State", State, &[ZoomInfo]),
    entry("addressState", State, &[Outreach]),
    // country (the person's)
    entry("country", Country, &[Generic, Seeds]),
    entry("Country", Country, &[Apollo, Salesforce, ZoomInfo]),
    entry("Country/Region", Country, &[HubSpot]),
    entry("MailingCountry", Country, &[Salesforce]),
    entry("Mailing Country", Country, &[Salesforce]),
    entry("addressCountry", Country, &[Outreach]),
    // zip_code (the person's)
    entry("zip_code", ZipCode, &[Generic]),
    entry("zip", ZipCode, &[Generic]),
    entry("postal_code", ZipCode, &[Generic]),
    entry("postcode", ZipCode, &[Generic]),
    entry("zipCode", ZipCode, &[Seeds]),
    entry("Postal Code", ZipCode, &[HubSpot]),
    entry("PostalCode", ZipCode, &[Salesforce]),
    entry("MailingPostalCode", ZipCode, &[Salesforce]),
    entry("Mailing Postal Code", ZipCode, &[Salesforce]),
    entry("Person Zip Code", ZipCode, &[ZoomInfo]),
    entry("addressZip", ZipCode, &[Outreach]),
    // phone (the person's work line)
    entry("phone", Phone, &[Generic, Seeds]),
    entry("phone_number", Phone, &[Generic]),
    entry("work_phone", Phone, &[Generic]),
    entry("Work Direct Phone", Phone, &[Apollo]),
    entry("Phone Number", Phone, &[HubSpot]),
    entry("Phone", Phone, &[Salesforce]),
    entry("Business Phone", Phone, &[Salesforce]),
    entry("Direct Phone Number", Phone, &[ZoomInfo]),
    entry("Person - Phone", Phone, &[Pipedrive]),
    entry("Person - Phone - Work", Phone, &[Pipedrive]),
    entry("workPhones", Phone, &[Outreach]),
    // mobile_phone
    entry("mobile_phone", MobilePhone, &[Generic]),
    entry("mobile", MobilePhone, &[Generic]),
    entry("cell_phone", MobilePhone, &[Generic]),
    entry("mobilePhone", MobilePhone, &[Seeds]),
    entry("Mobile Phone", MobilePhone, &[Apollo, Salesforce, ZoomInfo]),
    entry("Mobile Phone Number", MobilePhone, &[HubSpot]),
    entry("MobilePhone", MobilePhone, &[Salesforce]),
    entry("Person - Phone - Mobile", MobilePhone, &[Pipedrive]),
    entry("mobilePhones", MobilePhone, &[Outreach]),
    // tags
    entry("tags", Tags, &[Generic, Outreach]),
    entry("Person - Label", Tags, &[Pipedrive]),
    // company.domain: a domain or a website URL
    entry("company_domain", CompanyDomain, &[Generic]),
    entry("domain", CompanyDomain, &[Generic]),
    entry("website", CompanyDomain, &[Generic]),
    entry("company_website", CompanyDomain, &[Generic]),
    entry("company_url", CompanyDomain, &[Generic]),
    entry("url", CompanyDomain, &[Generic]),
    entry("Website", CompanyDomain, &[Apollo, Salesforce, ZoomInfo]),
    entry("Website URL", CompanyDomain, &[HubSpot]),
    // company.name
    entry("company_name", CompanyName, &[Generic]),
    entry("company", CompanyName, &[Generic, Seeds, Outreach]),
    entry("organization", CompanyName, &[Generic]),
    entry("organisation", CompanyName, &[Generic]),
    entry("account", CompanyName, &[Generic]),
    entry("account_name", CompanyName, &[Generic]),
    entry("Company", CompanyName, &[Apollo, Salesforce, LinkedIn]),
    entry("Company Name", CompanyName, &[Apollo, HubSpot, ZoomInfo]),
    entry("Account Name", CompanyName, &[Salesforce]),
    entry("Account.Name", CompanyName, &[Salesforce]),
    entry("Person - Organization", CompanyName, &[Pipedrive]),
    // company.industry
    entry("industry", Industry, &[Generic, Seeds]),
    entry("Industry", Industry, &[Apollo, HubSpot, Salesforce]),
    entry("Primary Industry", Industry, &[ZoomInfo]),
    entry("companyIndustry", Industry, &[Outreach]),
    // company.min_employees, company.max_employees
    entry("min_employees", MinEmployees, &[Generic]),
    entry("employees_min", MinEmployees, &[Generic]),
    entry("minEmployeeSize", MinEmployees, &[Seeds]),
    entry("max_employees", MaxEmployees, &[Generic]),
    entry("employees_max", MaxEmployees, &[Generic]),
    entry("maxEmployeeSize", MaxEmployees, &[Seeds]),
    // one head count: both bounds
    entry("# Employees", EmployeeCount, &[Apollo]),
    entry("Employees", EmployeeCount, &[ZoomInfo]),
    entry("Number of Employees", EmployeeCount, &[HubSpot]),
    entry("NumberOfEmployees", EmployeeCount, &[Salesforce]),
    entry("companySize", EmployeeCount, &[Outreach]),
    // company.employee_size_link
    entry("employee_size_link", EmployeeSizeLink, &[Generic]),
    entry("employeeSizeLink", EmployeeSizeLink, &[Seeds]),
    // company.revenue
    entry("revenue", Revenue, &[Generic, Seeds]),
    entry("annual_revenue", Revenue, &[Generic]),
    entry("Annual Revenue", Revenue, &[Apollo, HubSpot, Salesforce]),
    entry("AnnualRevenue", Revenue, &[Salesforce]),
    entry("Revenue (in 000s USD)", RevenueInThousands, &[ZoomInfo]),
    // the company's location
    entry("company_address", CompanyAddress, &[Generic]),
    entry("Company Address", CompanyAddress, &[Apollo]),
    entry("Company Street Address", CompanyAddress, &[ZoomInfo]),
    entry("Organization - Address", CompanyAddress, &[Pipedrive]),
    entry("company_city", CompanyCity, &[Generic]),
    entry("Company City", CompanyCity, &[Apollo, ZoomInfo]),
    entry("company_state", CompanyState, &[Generic]),
    entry("Company State", CompanyState, &[Apollo, ZoomInfo]),
    entry("company_country", CompanyCountry, &[Generic]),
    entry("Company Country", CompanyCountry, &[Apollo, ZoomInfo]),
    entry("company_zip_code", CompanyZipCode, &[Generic]),
    entry("company_zip", CompanyZipCode, &[Generic]),
    entry("company_postal_code", CompanyZipCode, &[Generic]),
    entry("Company Zip Code", CompanyZipCode, &[ZoomInfo]),
    // company.phone
    entry("company_phone", CompanyPhone, &[Generic]),
    entry("Company Phone", CompanyPhone, &[Apollo]),
    entry("Company HQ Phone", CompanyPhone, &[ZoomInfo]),
    // company.external_id: the company's id in the source
    entry("company_external_id", CompanyExternalId, &[Generic]),
    entry("company_id", CompanyExternalId, &[Generic]),
    entry("Apollo Account Id", CompanyExternalId, &[Apollo]),
    entry(
        "Primary Associated Company ID",
        CompanyExternalId,
        &[HubSpot],
    ),
    entry("AccountId", CompanyExternalId, &[Salesforce]),
    entry("Account ID", CompanyExternalId, &[Salesforce]),
    entry("ZoomInfo Company ID", CompanyExternalId, &[ZoomInfo]),
    entry("Organization - ID", CompanyExternalId, &[Pipedrive]),
];

/// A header name as compared: lower case, letters and digits only.
pub fn normalized(name: &str) -> String {
    name.trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// What a normalized name means: its column and every vendor that writes it.
#[derive(Debug)]
pub struct Known {
    pub column: Column,
    pub vendors: BTreeSet<Vendor>,
}

impl Known {
    /// The one tool that writes this name, when only one does (and it is not ours).
    fn sole_tool(&self) -> Option<Vendor> {
        match self.vendors.iter().collect::<Vec<_>>()[..] {
            [vendor] if vendor.is_tool() => Some(*vendor),
            _ => None,
        }
    }
}

static BY_NAME: LazyLock<HashMap<String, Known>> = LazyLock::new(|| {
    let mut known: HashMap<String, Known> = HashMap::new();
    for entry in VOCABULARY {
        known
            .entry(normalized(entry.header))
            .or_insert_with(|| Known {
                column: entry.column.clone(),
                vendors: BTreeSet::new(),
            })
            .vendors
            .extend(entry.vendors);
    }
    known
});

/// The meaning of a normalized header name.
pub fn lookup(normalized_name: &str) -> Option<&'static Known> {
    BY_NAME.get(normalized_name)
}

/// The tool a file comes from, when its header says so unambiguously: its id column is one
/// only that tool writes, or the names only one tool writes all point to the same tool and the
/// id column (if any) is one that tool writes too. `mapped` holds every recognized column.
pub fn file_vendor(mapped: &[&Known], id: Option<&Known>) -> Option<Vendor> {
    if let Some(vendor) = id.and_then(Known::sole_tool) {
        return Some(vendor);
    }
    let evidence: BTreeSet<Vendor> = mapped
        .iter()
        .filter_map(|known| known.sole_tool())
        .collect();
    let [vendor] = evidence.into_iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    match id {
        Some(id) if !id.vendors.contains(&vendor) => None,
        _ => Some(vendor),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_maps_its_header_to_its_column() {
        for entry in VOCABULARY {
            let known = lookup(&normalized(entry.header))
                .unwrap_or_else(|| panic!("{} is not found", entry.header));
            assert_eq!(known.column, entry.column, "{}", entry.header);
            for vendor in entry.vendors {
                assert!(known.vendors.contains(vendor), "{}", entry.header);
            }
        }
    }

    #[test]
    fn no_normalized_name_maps_to_two_columns() {
        let mut columns: HashMap<String, (&str, &Column)> = HashMap::new();
        for entry in VOCABULARY {
            if let Some((other, column)) =
                columns.insert(normalized(entry.header), (entry.header, &entry.column))
            {
                assert_eq!(
                    column, &entry.column,
                    "{other:?} and {:?} normalize alike but fill different fields",
                    entry.header
                );
            }
        }
    }

    #[test]
    fn no_entry_is_written_twice_for_one_vendor() {
        let mut seen = std::collections::HashSet::new();
        for entry in VOCABULARY {
            for vendor in entry.vendors {
                assert!(
                    seen.insert((entry.header, *vendor)),
                    "{} is listed twice for {vendor:?}",
                    entry.header
                );
            }
        }
    }

    #[test]
    fn every_vendor_has_entries() {
        for vendor in Vendor::ALL {
            assert!(
                VOCABULARY.iter().any(|e| e.vendors.contains(&vendor)),
                "{vendor:?}"
            );
        }
    }

    #[test]
    fn title_is_the_job_title_and_salutation_stays_the_salutation() {
        for title in ["Title", "title", "TITLE", "Job Title", "jobTitle"] {
            assert_eq!(
                lookup(&normalized(title)).map(|k| &k.column),
                Some(&JobTitle)
            );
        }
        for salutation in ["Salutation", "prefix"] {
            assert_eq!(
                lookup(&normalized(salutation)).map(|k| &k.column),
                Some(&Salutation)
            );
        }
    }

    /// The names accepted before the vocabulary still mean what they meant (except `title`).
    #[test]
    fn earlier_names_keep_their_meaning() {
        let earlier: &[(&str, Column)] = &[
            ("externalsource", ExternalSource),
            ("source", ExternalSource),
            ("externalid", ExternalId),
            ("id", ExternalId),
            ("recordid", ExternalId),
            ("contactid", ExternalId),
            ("leadid", ExternalId),
            ("prospectid", ExternalId),
            ("crmid", ExternalId),
            ("salutation", Salutation),
            ("prefix", Salutation),
            ("firstname", FirstName),
            ("givenname", FirstName),
            ("forename", FirstName),
            ("lastname", LastName),
            ("surname", LastName),
            ("familyname", LastName),
            ("email", Email),
            ("emailaddress", Email),
            ("workemail", Email),
            ("businessemail", Email),
            ("mail", Email),
            ("jobtitle", JobTitle),
            ("position", JobTitle),
            ("role", JobTitle),
            ("jobtitlelevel", JobTitleLevel),
            ("seniority", JobTitleLevel),
            ("level", JobTitleLevel),
            ("department", Department),
            ("jobtitlelink", JobTitleLink),
            ("linkedin", JobTitleLink),
            ("linkedinurl", JobTitleLink),
            ("profileurl", JobTitleLink),
            ("address", Address),
            ("street", Address),
            ("streetaddress", Address),
            ("city", City),
            ("state", State),
            ("region", State),
            ("province", State),
            ("country", Country),
            ("zipcode", ZipCode),
            ("zip", ZipCode),
            ("postalcode", ZipCode),
            ("postcode", ZipCode),
            ("phone", Phone),
            ("phonenumber", Phone),
            ("workphone", Phone),
            ("mobilephone", MobilePhone),
            ("mobile", MobilePhone),
            ("cellphone", MobilePhone),
            ("tags", Tags),
            ("companydomain", CompanyDomain),
            ("domain", CompanyDomain),
            ("website", CompanyDomain),
            ("companywebsite", CompanyDomain),
            ("companyurl", CompanyDomain),
            ("url", CompanyDomain),
            ("companyname", CompanyName),
            ("company", CompanyName),
            ("organization", CompanyName),
            ("organisation", CompanyName),
            ("account", CompanyName),
            ("accountname", CompanyName),
            ("industry", Industry),
            ("minemployees", MinEmployees),
            ("employeesmin", MinEmployees),
            ("maxemployees", MaxEmployees),
            ("employeesmax", MaxEmployees),
            ("employeesizelink", EmployeeSizeLink),
            ("revenue", Revenue),
            ("annualrevenue", Revenue),
            ("companyaddress", CompanyAddress),
            ("companycity", CompanyCity),
            ("companystate", CompanyState),
            ("companycountry", CompanyCountry),
            ("companyzipcode", CompanyZipCode),
            ("companyzip", CompanyZipCode),
            ("companypostalcode", CompanyZipCode),
            ("companyphone", CompanyPhone),
            ("companyexternalid", CompanyExternalId),
            ("companyid", CompanyExternalId),
        ];
        for (name, column) in earlier {
            assert_eq!(lookup(name).map(|k| &k.column), Some(column), "{name}");
        }
    }

    #[test]
    fn the_seeds_customer_fields_are_all_known() {
        let fields = [
            ("salutation", Salutation),
            ("firstName", FirstName),
            ("lastName", LastName),
            ("email", Email),
            ("phone", Phone),
            ("mobilePhone", MobilePhone),
            ("jobTitle", JobTitle),
            ("jobTitleLevel", JobTitleLevel),
            ("department", Department),
            ("jobTitleLink", JobTitleLink),
            ("company", CompanyName),
            ("industry", Industry),
            ("minEmployeeSize", MinEmployees),
            ("maxEmployeeSize", MaxEmployees),
            ("employeeSizeLink", EmployeeSizeLink),
            ("revenue", Revenue),
            ("address", Address),
            ("city", City),
            ("state", State),
            ("country", Country),
            ("zipCode", ZipCode),
            ("externalSource", ExternalSource),
            ("externalId", ExternalId),
        ];
        for (name, column) in fields {
            let known = lookup(&normalized(name)).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(known.column, column, "{name}");
            assert!(known.vendors.contains(&Seeds), "{name}");
        }
    }

    fn vendor_of(header: &[&str]) -> Option<Vendor> {
        let known: Vec<&Known> = header
            .iter()
            .filter_map(|name| lookup(&normalized(name)))
            .collect();
        let id = known.iter().copied().find(|k| k.column == ExternalId);
        file_vendor(&known, id)
    }

    #[test]
    fn a_file_is_a_tools_when_its_header_says_so() {
        // A tool's own id column.
        assert_eq!(vendor_of(&["Apollo Contact Id", "Email"]), Some(Apollo));
        assert_eq!(
            vendor_of(&["Person - ID", "Person - Email"]),
            Some(Pipedrive)
        );
        // A shared id name, confirmed by a name only that tool writes.
        assert_eq!(
            vendor_of(&["Record ID", "Email", "State/Region"]),
            Some(HubSpot)
        );
        assert_eq!(vendor_of(&["Id", "Email", "MailingCity"]), Some(Salesforce));
        // No id column: the tool's names alone.
        assert_eq!(vendor_of(&["emails", "addressCity"]), Some(Outreach));
        // Our own names, and names that point nowhere or to two tools.
        assert_eq!(vendor_of(&["external_id", "email", "MailingCity"]), None);
        assert_eq!(vendor_of(&["Record ID", "Email"]), None);
        assert_eq!(vendor_of(&["email", "State/Region", "MailingCity"]), None);
        assert_eq!(vendor_of(&["externalId", "email", "minEmployeeSize"]), None);
    }

    /// docs/INGEST.md lists every recognized header of every vendor.
    #[test]
    fn the_docs_list_every_entry() {
        let docs = include_str!("../../../../docs/INGEST.md");
        let start = docs
            .find("## Recognized headers")
            .expect("a Recognized headers section");
        let section = &docs[start..];
        let section = &section[..section[3..]
            .find("\n## ")
            .map_or(section.len(), |end| end + 3)];
        for entry in VOCABULARY {
            assert!(
                section.contains(&format!("`{}`", entry.header)),
                "docs/INGEST.md does not list `{}`",
                entry.header
            );
        }
    }
}
