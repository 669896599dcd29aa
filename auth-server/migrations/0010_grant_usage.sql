-- The account page (issue 25): when a client first and last received an access token for a user
-- and a resource, and when a user removed a client's access (access tokens of that user and
-- client issued at or before the cut-off are inactive at the introspection endpoint).
CREATE TABLE grant_usage (
    sub TEXT NOT NULL,
    client_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    first_used INTEGER NOT NULL,
    last_used INTEGER NOT NULL,
    PRIMARY KEY (sub, client_id, resource)
);
CREATE TABLE grant_cut_offs (
    sub TEXT NOT NULL,
    client_id TEXT NOT NULL,
    cut_off_at INTEGER NOT NULL,
    PRIMARY KEY (sub, client_id)
);
CREATE INDEX grant_cut_offs_at ON grant_cut_offs (cut_off_at);
CREATE INDEX grant_usage_client ON grant_usage (client_id);
