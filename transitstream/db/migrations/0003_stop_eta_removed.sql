-- A deleted row leaves nothing to carry a revision, so the API's "what changed since revision N"
-- could not see an ETA the projector removed (passed, or its bus moved on): every removal is
-- logged here with its own revision, per stop, and the API redoes those stops' boards. Kept for
-- an hour (the projector's sweep prunes it): clients further behind get a snapshot anyway.
CREATE TABLE stop_eta_removed (
    revision   bigint      PRIMARY KEY DEFAULT nextval('read_model_revision'),
    stop_id    text        NOT NULL,
    removed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stop_eta_removed_at ON stop_eta_removed (removed_at);
