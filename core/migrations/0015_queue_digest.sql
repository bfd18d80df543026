-- The morning queue digest: agents may opt out; daily_jobs makes each
-- day's digest go once however many daemons run.
ALTER TABLE agents ADD COLUMN no_digest boolean NOT NULL DEFAULT false;
CREATE TABLE daily_jobs (
    name text NOT NULL,
    day  date NOT NULL,
    PRIMARY KEY (name, day)
);
