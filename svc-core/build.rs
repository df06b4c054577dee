//! Re-embed the SQL migrations whenever the directory changes: `embed_migrations!` reads the
//! files at compile time, and cargo does not track files a proc macro reads.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
