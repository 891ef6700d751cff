-- Accounts: email addresses are stored in lower case (the API normalises them), so the
-- unique index also means unique regardless of case.
ALTER TABLE "users" ADD CONSTRAINT "users_email_lower_check" CHECK ("email" = lower("email") AND length("email") <= 254);
