from __future__ import annotations

from schema.context import Info
from schema.persisted import RegisterTrustedDocumentsResult, TrustedDocuments
from schema.scalars import JSON


async def register_trusted_documents(info: Info, manifest: JSON) -> RegisterTrustedDocumentsResult:
    count = await info.context.tessera.documents.register_manifest(manifest)
    return TrustedDocuments(count=count)
