// Entry point of the CDK app (`cdk.json`: `npx tsx bin/app.ts`). Everything lives in lib/.
import { createApp } from '../lib/app.js';

createApp().synth();
