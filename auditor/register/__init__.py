"""The Art. 30 register of processing activities and the transfer impact assessment worksheets, drafted from an
audit: `uses` reads what only the DPO knows (purposes, data, people, retention), `entries` fills in what the
audit and the catalog know, `write` renders it as xlsx, ods, Markdown or HTML (docs/evidence.md).
"""
