//! migrations/schema.sql is exactly what the migrations create: a migration that changes the
//! schema comes with the regenerated snapshot, so a review sees the schema it leaves behind.

use lma_tests::TestDatabase;
use lma_tests::schema;

#[tokio::test]
async fn the_migrations_create_the_committed_schema_snapshot() {
    let db = TestDatabase::create_empty().await;
    let mut client = db.connect().await;
    svc_core::migrations::run(&mut client)
        .await
        .expect("migrating a fresh database");
    drop(client);
    let migrated = schema::dump(&db)
        .await
        .unwrap_or_else(|error| panic!("dumping the migrated schema: {error:#}"));

    let path = schema::snapshot_path();
    let committed = std::fs::read_to_string(&path).ok();
    if schema::write_requested() {
        // Rewritten only when it changes: svc-core re-embeds the migrations whenever a file in
        // migrations/ is touched.
        if committed.as_deref() != Some(migrated.as_str()) {
            std::fs::write(&path, &migrated)
                .unwrap_or_else(|error| panic!("writing {}: {error}", path.display()));
            println!("wrote {}", path.display());
        } else {
            println!("{} is up to date", path.display());
        }
        return;
    }

    let Some(committed) = committed else {
        panic!(
            "{} is missing; create it with `{}` and commit it",
            schema::SNAPSHOT,
            schema::REGENERATE_COMMAND
        );
    };
    assert!(
        committed == migrated,
        "{snapshot} is not what the migrations create. If the migrations are right, regenerate \
         the snapshot with `{command}` and commit it with them ({version}).\n{difference}",
        snapshot = schema::SNAPSHOT,
        command = schema::REGENERATE_COMMAND,
        version = schema::pg_dump_version(),
        difference = schema::describe_difference(&committed, &migrated),
    );
}
