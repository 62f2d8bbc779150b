"""The pipeline's own long-running processes, in start order (the stack's parts come first).

`transitstream demo` starts them in the background; `transitstream infra down` stops them too.
The order is the data flow: what a service reads from is up before it starts.
"""

from __future__ import annotations

from transitstream.infra.component import Component
from transitstream.ingest.process import COMPONENT as INGEST
from transitstream.project.process import COMPONENT as PROJECT
from transitstream.serve.process import COMPONENT as SERVE
from transitstream.stream.process import COMPONENT as STREAM

SERVICES: list[Component] = [INGEST, STREAM, PROJECT, SERVE]
