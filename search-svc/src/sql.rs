//! SQL text with its bound parameters: what filters render their conditions into and what the
//! queries built from them run. User input reaches SQL only through [`SqlQuery::bind`].

use tokio_postgres::types::ToSql;

/// SQL text with its parameters, numbered in the order they were bound.
#[derive(Default)]
pub struct SqlQuery {
    pub sql: String,
    pub params: Vec<Box<dyn ToSql + Send + Sync>>,
}

impl SqlQuery {
    /// Binds a value and returns its placeholder.
    pub fn bind(&mut self, value: impl ToSql + Send + Sync + 'static) -> String {
        self.params.push(Box::new(value));
        format!("${}", self.params.len())
    }

    pub fn param_refs(&self) -> impl ExactSizeIterator<Item = &(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|param| param.as_ref() as &(dyn ToSql + Sync))
    }
}
