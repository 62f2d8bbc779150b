-- The read models the API queries (CQRS): projections of the Kafka topics, rebuildable from them.
--
-- Every row carries the event time it reflects; projectors only overwrite a row with a newer one
-- (ARCHITECTURE.md section 5), so replays, duplicates and out-of-order batches are harmless.
-- `revision` comes from one sequence on every write: the API asks "what changed since revision N"
-- with one indexed query for all its WebSocket clients, whatever the wall clocks say.

CREATE SEQUENCE read_model_revision;

-- One row per vehicle: where it is and how it is doing (from vehicle.enriched.v1).
CREATE TABLE vehicle_state (
    vehicle_id         text             PRIMARY KEY,
    route_id           text,
    route_name         text,
    trip_id            text,
    lat                double precision NOT NULL,
    lon                double precision NOT NULL,
    bearing            real,
    speed              real,
    distance_along_m   double precision,
    offset_m           double precision,
    delay_s            integer,          -- schedule deviation: positive is late
    next_stop_id       text,
    next_stop_sequence integer,
    event_id           text             NOT NULL,
    event_time         timestamptz      NOT NULL,  -- the fix this row reflects
    stale              boolean          NOT NULL DEFAULT false,
    updated_at         timestamptz      NOT NULL DEFAULT now(),
    revision           bigint           NOT NULL DEFAULT nextval('read_model_revision')
);
CREATE INDEX vehicle_state_route ON vehicle_state (route_id, vehicle_id);
CREATE INDEX vehicle_state_revision ON vehicle_state (revision);

-- The latest prediction per (vehicle, trip, stop visit) (from stop.eta.v1). A trip can visit a
-- stop twice (loops), hence stop_sequence in the key.
CREATE TABLE stop_eta (
    vehicle_id      text        NOT NULL,
    trip_id         text        NOT NULL,
    stop_sequence   integer     NOT NULL,
    stop_id         text        NOT NULL,
    route_id        text        NOT NULL,
    predicted_time  timestamptz NOT NULL,
    prediction_time timestamptz NOT NULL,  -- the event time of the fix it was made from
    horizon_s       integer     NOT NULL,
    scheduled_time  timestamptz,
    model           text        NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    revision        bigint      NOT NULL DEFAULT nextval('read_model_revision'),
    PRIMARY KEY (vehicle_id, trip_id, stop_sequence)
);
CREATE INDEX stop_eta_stop_time ON stop_eta (stop_id, predicted_time);
CREATE INDEX stop_eta_revision ON stop_eta (revision);

-- Anomalies, open and closed (from vehicle.anomaly.v1): one row per anomaly_id, whose open and
-- close records share the id. A jump is "instant": opened and closed at once.
CREATE TABLE vehicle_anomaly (
    anomaly_id  text        PRIMARY KEY,
    kind        text        NOT NULL,
    state       text        NOT NULL CHECK (state IN ('open', 'closed', 'instant')),
    severity    text        NOT NULL,
    vehicle_id  text        NOT NULL,
    trip_id     text,
    route_id    text,
    opened_at   timestamptz NOT NULL,
    closed_at   timestamptz,
    event_time  timestamptz NOT NULL,  -- the latest record this row reflects
    lat         double precision,
    lon         double precision,
    evidence    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    revision    bigint      NOT NULL DEFAULT nextval('read_model_revision')
);
CREATE INDEX vehicle_anomaly_open ON vehicle_anomaly (vehicle_id) WHERE state = 'open';
CREATE INDEX vehicle_anomaly_vehicle_time ON vehicle_anomaly (vehicle_id, event_time DESC);
CREATE INDEX vehicle_anomaly_revision ON vehicle_anomaly (revision);
