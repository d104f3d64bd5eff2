/**
 * The registry of the solver's remedies, in the order their phases run and their options
 * are listed: adding a remedy is its unit (a file of this folder), its test, and one line
 * here. Everything else (the options' type, defaults, the methods, validation, the CLI's
 * flags and help, the resume identity) is derived from their rows in ../options.ts.
 */
import { cgInit } from './cg-init.js';
import { cgKeepBest } from './cg-keep-best.js';
import { cgStop } from './cg-stop.js';
import { gnGrowth } from './gn-growth.js';
import { gradSample } from './grad-sample.js';
import { preconditioner } from './preconditioner.js';

export const REMEDIES = [cgInit, cgStop, cgKeepBest, preconditioner, gnGrowth, gradSample] as const;
