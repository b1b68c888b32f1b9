from __future__ import annotations

from schema.arguments import Manifest
from schema.context import Info
from schema.persisted import RegisterTrustedDocumentsResult, TrustedDocuments


async def register_trusted_documents(
    info: Info, manifest: Manifest
) -> RegisterTrustedDocumentsResult:
    count = await info.context.tessera.documents.register_manifest(manifest)
    return TrustedDocuments(count=count)
