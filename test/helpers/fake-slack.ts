/** The Slack stand-in lives with the integration (the demo uses it too); tests import it from here. */
export * from '../../devtools/slack.standin';
