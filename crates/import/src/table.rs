//! CSV and Parquet, read with polars.

use std::path::Path;

use cairn_data::Taxonomy;
use polars::prelude::{
    Column, CsvReadOptions, DataFrame, DataType, ParquetReader, PolarsError, SerReader,
};

use crate::convert::{Cell, Converter};
use crate::mapping::{Field, Mapping};
use crate::{ImportError, ImportOutcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Csv,
    Parquet,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Csv => "CSV",
            Kind::Parquet => "Parquet",
        }
    }
}

/// Reads the whole file. CSV columns are all read as strings (no type inference, so a
/// column is never misread from its first rows); each field parses its own values.
fn read(path: &Path, kind: Kind) -> Result<DataFrame, ImportError> {
    let file = std::fs::File::open(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let result = match kind {
        Kind::Csv => CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .into_reader_with_file_handle(file)
            .finish(),
        Kind::Parquet => ParquetReader::new(file).finish(),
    };
    result.map_err(|e| ImportError::Parse {
        path: path.to_path_buf(),
        format: kind.name(),
        message: e.to_string(),
    })
}

/// A column's values as cells, by the column's type.
fn cells(column: &Column) -> Result<Vec<Cell>, PolarsError> {
    let dtype = column.dtype();
    let out = if dtype.is_string() {
        column
            .str()?
            .iter()
            .map(|v| v.map_or(Cell::Null, |s| Cell::Str(s.to_string())))
            .collect()
    } else if dtype.is_bool() {
        column
            .bool()?
            .iter()
            .map(|v| v.map_or(Cell::Null, Cell::Bool))
            .collect()
    } else if dtype.is_integer() {
        let cast = column.cast(&DataType::Int64)?;
        cast.i64()?
            .iter()
            .map(|v| v.map_or(Cell::Null, Cell::Int))
            .collect()
    } else if dtype.is_float() {
        let cast = column.cast(&DataType::Float64)?;
        cast.f64()?
            .iter()
            .map(|v| v.map_or(Cell::Null, Cell::Float))
            .collect()
    } else if *dtype == DataType::Null {
        vec![Cell::Null; column.len()]
    } else {
        // Categoricals, dates, …: their text form.
        match column.cast(&DataType::String) {
            Ok(cast) => cast
                .str()?
                .iter()
                .map(|v| v.map_or(Cell::Null, |s| Cell::Str(s.to_string())))
                .collect(),
            Err(_) => vec![Cell::Other(format!("a value of type {dtype}")); column.len()],
        }
    };
    Ok(out)
}

pub(crate) fn import(
    path: &Path,
    kind: Kind,
    mapping: &Mapping,
    taxonomy: &Taxonomy,
) -> Result<ImportOutcome, ImportError> {
    let converter = Converter::new(path, mapping, taxonomy)?;
    let df = read(path, kind)?;
    let available = || {
        df.get_column_names()
            .into_iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
    };

    let mut columns: Vec<Option<Vec<Cell>>> = vec![None; Field::ALL.len()];
    for (field, name) in mapping.columns() {
        let Ok(column) = df.column(name) else {
            return Err(ImportError::MissingColumn {
                path: path.to_path_buf(),
                field: field.to_string(),
                column: name.to_string(),
                available: available(),
            });
        };
        let values = cells(column).map_err(|e| ImportError::Parse {
            path: path.to_path_buf(),
            format: kind.name(),
            message: format!("column `{name}`: {e}"),
        })?;
        columns[field.index()] = Some(values);
    }

    let mut outcome = ImportOutcome::default();
    let mut row_cells = vec![Cell::Null; Field::ALL.len()];
    for i in 0..df.height() {
        for (slot, column) in row_cells.iter_mut().zip(columns.iter_mut()) {
            *slot = column
                .as_mut()
                .and_then(|c| c.get_mut(i))
                .map_or(Cell::Null, std::mem::take);
        }
        if let Some(example) = converter.convert(i + 1, &row_cells, &mut outcome.problems) {
            outcome.examples.push(example);
        }
    }
    Ok(outcome)
}
