-- Staff tasks are closed by an operator (`carrier tasks done ID [--note TEXT]`): who and
-- when, and the operator's note encrypted with the records' field keys (it may name the
-- patient or a number; AAD: staff_tasks/note/<id>). The status stays 'open' or 'done'.
ALTER TABLE staff_tasks
    ADD COLUMN done_at timestamptz,
    ADD COLUMN done_by text,
    ADD COLUMN note_ct bytea;
ALTER TABLE staff_tasks ADD CONSTRAINT staff_tasks_status CHECK (status IN ('open', 'done'));
CREATE INDEX staff_tasks_created ON staff_tasks (created_at, id);
