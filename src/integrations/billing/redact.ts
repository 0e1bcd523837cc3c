/** Email addresses in text a billing provider sent back (errors echo them); they stay out of our errors, logs and Slack. */
const EMAIL_PATTERN = /[^\s@'"<>]+@[^\s@'"<>]+\.[A-Za-z]{2,}/g;

export const redactEmails = (s: string): string => s.replace(EMAIL_PATTERN, '[redacted email]');
