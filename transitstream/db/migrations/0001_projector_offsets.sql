-- Where each projector stands in each partition. A projector writes its read-model upserts and
-- these offsets in one transaction, and seeks here on start: a crash neither skips nor re-applies.
CREATE TABLE projector_offsets (
    projector   text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    next_offset bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projector, topic, partition)
);
