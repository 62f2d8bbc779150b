"""The pipeline's own long-running processes, in start order (the stack's parts come first).

`transitstream demo` starts them in the background; `transitstream infra down` stops them too.
Later milestones add the stream jobs, the projectors and the read API here.
"""

from __future__ import annotations

from transitstream.infra.component import Component
from transitstream.ingest.process import COMPONENT as INGEST
from transitstream.stream.process import COMPONENT as STREAM

SERVICES: list[Component] = [INGEST, STREAM]
