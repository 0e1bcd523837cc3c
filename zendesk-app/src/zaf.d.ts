/** The parts of the ZAF SDK (zendesk_app_framework_sdk) the sidebar uses. */
declare module 'zendesk_app_framework_sdk' {
  export interface ZafContext {
    readonly location?: string;
    readonly ticketId?: number | string;
    readonly account?: { readonly subdomain?: string };
  }
  export interface ZafClient {
    get(paths: string | string[]): Promise<Record<string, unknown>>;
    set(key: string, value: unknown): Promise<Record<string, unknown>>;
    invoke(name: string, ...args: unknown[]): Promise<unknown>;
    request(options: Record<string, unknown>): Promise<unknown>;
    metadata(): Promise<{ settings: Record<string, unknown> }>;
    context(): Promise<ZafContext>;
    on(event: string, handler: (data: unknown) => void): void;
  }
  const ZAFClient: { init(callback?: (context: ZafContext) => void): ZafClient | false };
  export default ZAFClient;
}
