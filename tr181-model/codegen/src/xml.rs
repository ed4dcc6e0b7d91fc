//! Loading the Broadband Forum data model documents and resolving names across `<import>`s.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use roxmltree::{Document, Node, NodeId, ParsingOptions};

/// What kind of named definition an `<import>` child or a reference names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Component,
    DataType,
    Model,
}

impl Kind {
    fn tag(self) -> &'static str {
        match self {
            Self::Component => "component",
            Self::DataType => "dataType",
            Self::Model => "model",
        }
    }
}

/// One loaded XML document with its local definitions and import bindings.
pub(crate) struct Doc {
    pub(crate) file: String,
    pub(crate) xml: Document<'static>,
    /// Definitions in this document, by kind and name.
    defs: HashMap<(Kind, String), NodeId>,
    /// Names bound by `<import>`: (kind, local name) → (file, name in that file).
    imports: HashMap<(Kind, String), (String, String)>,
}

/// Every document reachable from the entry point, loaded once.
pub(crate) struct Docs {
    dir: PathBuf,
    pub(crate) docs: Vec<Doc>,
    by_file: HashMap<String, usize>,
}

/// A resolved definition: the document that holds it and its element.
#[derive(Clone, Copy)]
pub(crate) struct Def<'a> {
    pub(crate) doc: usize,
    pub(crate) node: Node<'a, 'static>,
}

impl Docs {
    pub(crate) fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            docs: Vec::new(),
            by_file: HashMap::new(),
        }
    }

    /// Loads `file` and, recursively, everything it imports. Returns its index.
    pub(crate) fn load(&mut self, file: &str) -> Result<usize, String> {
        if let Some(&i) = self.by_file.get(file) {
            return Ok(i);
        }
        let path = self.dir.join(file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        // The generator runs once per build of the tables; leaking the text keeps the parsed
        // trees borrow-free.
        let text: &'static str = Box::leak(text.into_boxed_str());
        let options = ParsingOptions {
            allow_dtd: true,
            ..ParsingOptions::default()
        };
        let xml = Document::parse_with_options(text, options)
            .map_err(|e| format!("parsing {file}: {e}"))?;
        let mut defs = HashMap::new();
        let mut imports = HashMap::new();
        let mut import_files = Vec::new();
        for child in xml.root_element().children().filter(Node::is_element) {
            let tag = child.tag_name().name();
            if tag == "import" {
                let Some(from) = child.attribute("file") else {
                    continue;
                };
                import_files.push(from.to_owned());
                for item in child.children().filter(Node::is_element) {
                    let Some(kind) = kind_of(item.tag_name().name()) else {
                        continue;
                    };
                    let Some(name) = item.attribute("name") else {
                        continue;
                    };
                    let target = item.attribute("ref").unwrap_or(name);
                    imports.insert(
                        (kind, name.to_owned()),
                        (from.to_owned(), target.to_owned()),
                    );
                }
            } else if let (Some(kind), Some(name)) = (kind_of(tag), child.attribute("name")) {
                defs.insert((kind, name.to_owned()), child.id());
            }
        }
        let index = self.docs.len();
        self.by_file.insert(file.to_owned(), index);
        self.docs.push(Doc {
            file: file.to_owned(),
            xml,
            defs,
            imports,
        });
        for from in import_files {
            self.load(&from)?;
        }
        Ok(index)
    }

    /// The definition that `name` of `kind` means inside document `doc`.
    pub(crate) fn resolve(&self, doc: usize, kind: Kind, name: &str) -> Result<Def<'_>, String> {
        let mut doc = doc;
        let mut name = name.to_owned();
        // Import chains are short; the bound stops a cycle.
        for _ in 0..16 {
            let d = self.docs.get(doc).ok_or("bad document index")?;
            if let Some(&id) = d.defs.get(&(kind, name.clone())) {
                let node = d.xml.get_node(id).ok_or("bad node id")?;
                return Ok(Def { doc, node });
            }
            let Some((file, target)) = d.imports.get(&(kind, name.clone())) else {
                // Some files use a name without importing it; like the BBF tools, fall back
                // to the one definition of that name anywhere.
                return self.global(kind, &name).ok_or_else(|| {
                    format!(
                        "{} {name} is neither defined nor imported in {}",
                        kind.tag(),
                        d.file
                    )
                });
            };
            doc = *self
                .by_file
                .get(file)
                .ok_or_else(|| format!("{file} not loaded"))?;
            name = target.clone();
        }
        Err(format!("import cycle resolving {} {name}", kind.tag()))
    }

    /// The definition of `name` in any loaded document.
    fn global(&self, kind: Kind, name: &str) -> Option<Def<'_>> {
        self.docs.iter().enumerate().find_map(|(doc, d)| {
            let id = d.defs.get(&(kind, name.to_owned()))?;
            Some(Def {
                doc,
                node: d.xml.get_node(*id)?,
            })
        })
    }

    /// Whether `doc` binds `name` itself (by definition or import).
    pub(crate) fn binds(&self, doc: usize, kind: Kind, name: &str) -> bool {
        self.docs.get(doc).is_some_and(|d| {
            let key = (kind, name.to_owned());
            d.defs.contains_key(&key) || d.imports.contains_key(&key)
        })
    }
}

fn kind_of(tag: &str) -> Option<Kind> {
    match tag {
        "component" => Some(Kind::Component),
        "dataType" => Some(Kind::DataType),
        "model" => Some(Kind::Model),
        _ => None,
    }
}
