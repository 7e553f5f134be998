-- DBeaver (org.jkiss.dbeaver.ext.postgresql) connection + navigator metadata queries.
--
-- Sources:
--   * dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/
--       PostgreDataSource.java @ 005a1a1cb6e67fd5a92794ba7045ada7410f3365 (determineDefaultObjects,
--         initializeContextState), PostgreDatabase.java @ 001f621c651677a0e920556d41f533da67bd638b
--         (RoleCache, AccessMethodCache, EncodingCache, LanguageCache, TablespaceCache, SchemaCache),
--       PostgreSchema.java @ 89f7317dd38d0f175bb6dde62387ea49dd508375 (CollationCache, ExtensionCache,
--         TableCache, column children), PostgreDataTypeCache.java @ 04415598fa80ed49cb955bbfb063ef815cf1cd6c.
--     These stored versions are older than current DBeaver; the *current* shapes (pg_description
--     classoid filter, relkind not in ('i','I','c'), partition_expr/partition_key, dep.objid for
--     identity columns, "substring"(pg_get_constraintdef()) consrc_copy) were taken from DBeaver 25/26
--     traffic: datafusion-contrib/datafusion-postgres issue #135 / tests/dbeaver.rs (DBeaver 25.1.5) and
--     public pgjdbc replay programs of DBeaver 26 navigator queries.
--   * pgjdbc (used by DBeaver): TypeInfoCache array/type lookups and DatabaseMetaData.getSQLKeywords().
-- Bind parameters: namespace oid 16384 (= 'public' on this server), pg_catalog oid 11,
-- table oid 16391 (= public.orders), database 'segmint'.

-- dbeaver: pgjdbc session prelude
SET extra_float_digits = 3;

-- dbeaver: pgjdbc application name
SET application_name = 'PostgreSQL JDBC Driver';

-- dbeaver: client info (Connection.setClientInfo ApplicationName)
SET application_name = 'DBeaver 25.1.5 - Main <segmint>';

-- dbeaver: active schema / user (PostgreExecutionContext)
SELECT current_schema(),session_user;

-- dbeaver: default objects (PostgreDataSource.determineDefaultObjects)
SELECT current_database(), current_schema(),session_user;

-- dbeaver: search path
SHOW search_path;

-- dbeaver: search path reset value (DBeaver 26)
SELECT reset_val FROM pg_settings WHERE name = 'search_path';

-- dbeaver: database info (PostgreDataSource database cache, datname bound)
SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE datname='segmint';

-- dbeaver: schema cache (PostgreDatabase.SchemaCache)
SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0 AND d.classoid='pg_namespace'::regclass
 ORDER BY nspname;

-- dbeaver: schema lookup by name (SchemaCache with filter)
SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0 AND d.classoid='pg_namespace'::regclass
WHERE nspname='public' ORDER BY nspname;

-- dbeaver: pgjdbc TypeInfoCache - array element lookup for oid 1034
SELECT n.nspname = ANY(current_schemas(true)), n.nspname, t.typname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON t.typnamespace = n.oid WHERE t.oid = 1034;

-- dbeaver: pgjdbc TypeInfoCache - is_array / type by oid
SELECT typinput='pg_catalog.array_in'::regproc as is_array, typtype, typname, pg_type.oid   FROM pg_catalog.pg_type   LEFT JOIN (select ns.oid as nspoid, ns.nspname, r.r           from pg_namespace as ns           join ( select s.r, (current_schemas(false))[s.r] as nspname                    from generate_series(1, array_upper(current_schemas(false), 1)) as s(r) ) as r          using ( nspname )        ) as sp     ON sp.nspoid = typnamespace  WHERE pg_type.oid = 1034  ORDER BY sp.r, pg_type.oid DESC;

-- dbeaver: server setting probe
SELECT * FROM pg_catalog.pg_settings where name='standard_conforming_strings';

-- dbeaver: SQL keywords (pgjdbc DatabaseMetaData.getSQLKeywords, server >= 9.0)
select string_agg(word, ',') from pg_catalog.pg_get_keywords() where word <> ALL ('{a,abs,absolute,action,ada,add,admin,after,all,allocate,alter,always,and,any,are,array,as,asc,asensitive,assertion,assignment,asymmetric,at,atomic,attribute,attributes,authorization,avg,before,begin,bernoulli,between,bigint,binary,blob,boolean,both,breadth,by,c,call,called,cardinality,cascade,cascaded,case,cast,catalog,catalog_name,ceil,ceiling,chain,char,char_length,character,character_length,character_set_catalog,character_set_name,character_set_schema,characteristics,characters,check,checked,class_origin,clob,close,coalesce,cobol,code_units,collate,collation,collation_catalog,collation_name,collation_schema,collect,column,column_name,command_function,command_function_code,commit,committed,condition,condition_number,connect,connection_name,constraint,constraint_catalog,constraint_name,constraint_schema,constraints,constructors,contains,continue,convert,corr,corresponding,count,covar_pop,covar_samp,create,cross,cube,cume_dist,current,current_collation,current_date,current_default_transform_group,current_path,current_role,current_time,current_timestamp,current_transform_group_for_type,current_user,cursor,cursor_name,cycle,data,date,datetime_interval_code,datetime_interval_precision,day,deallocate,dec,decimal,declare,default,defaults,deferrable,deferred,defined,definer,degree,delete,dense_rank,depth,deref,derived,desc,describe,descriptor,deterministic,diagnostics,disconnect,dispatch,distinct,domain,double,drop,dynamic,dynamic_function,dynamic_function_code,each,element,else,end,end-exec,equals,escape,every,except,exception,exclude,excluding,exec,execute,exists,exp,external,extract,false,fetch,filter,final,first,float,floor,following,for,foreign,fortran,found,free,from,full,function,fusion,g,general,get,global,go,goto,grant,granted,group,grouping,having,hierarchy,hold,hour,identity,immediate,implementation,in,including,increment,indicator,initially,inner,inout,input,insensitive,insert,instance,instantiable,int,integer,intersect,intersection,interval,into,invoker,is,isolation,join,k,key,key_member,key_type,language,large,last,lateral,leading,left,length,level,like,ln,local,localtime,localtimestamp,locator,lower,m,map,match,matched,max,maxvalue,member,merge,message_length,message_octet_length,message_text,method,min,minute,minvalue,mod,modifies,module,month,more,multiset,mumps,name,names,national,natural,nchar,nclob,nesting,new,next,no,none,normalize,normalized,not,"null",nullable,nullif,nulls,number,numeric,object,octet_length,octets,of,old,on,only,open,option,options,or,order,ordering,ordinality,others,out,outer,output,over,overlaps,overlay,overriding,pad,parameter,parameter_mode,parameter_name,parameter_ordinal_position,parameter_specific_catalog,parameter_specific_name,parameter_specific_schema,partial,partition,pascal,path,percent_rank,percentile_cont,percentile_disc,placing,pli,position,power,preceding,precision,prepare,preserve,primary,prior,privileges,procedure,public,range,rank,read,reads,real,recursive,ref,references,referencing,regr_avgx,regr_avgy,regr_count,regr_intercept,regr_r2,regr_slope,regr_sxx,regr_sxy,regr_syy,relative,release,repeatable,restart,result,return,returned_cardinality,returned_length,returned_octet_length,returned_sqlstate,returns,revoke,right,role,rollback,rollup,routine,routine_catalog,routine_name,routine_schema,row,row_count,row_number,rows,savepoint,scale,schema,schema_name,scope_catalog,scope_name,scope_schema,scroll,search,second,section,security,select,self,sensitive,sequence,serializable,server_name,session,session_user,set,sets,similar,simple,size,smallint,some,source,space,specific,specific_name,specifictype,sql,sqlexception,sqlstate,sqlwarning,sqrt,start,state,statement,static,stddev_pop,stddev_samp,structure,style,subclass_origin,submultiset,substring,sum,symmetric,system,system_user,table,table_name,tablesample,temporary,then,ties,time,timestamp,timezone_hour,timezone_minute,to,top_level_count,trailing,transaction,transaction_active,transactions_committed,transactions_rolled_back,transform,transforms,translate,translation,treat,trigger,trigger_catalog,trigger_name,trigger_schema,trim,true,type,uescape,unbounded,uncommitted,under,union,unique,unknown,unnamed,unnest,update,upper,usage,user,user_defined_type_catalog,user_defined_type_code,user_defined_type_name,user_defined_type_schema,using,value,values,var_pop,var_samp,varchar,varying,view,when,whenever,where,width_bucket,window,with,within,without,work,write,year,zone}'::text[]);

-- dbeaver: server version string
SELECT version();

-- dbeaver: feature probe - pg_enum present
SELECT * FROM pg_catalog.pg_enum WHERE 1<>1 LIMIT 1;

-- dbeaver: feature probe - pg_class.reltype present
SELECT reltype FROM pg_catalog.pg_class WHERE 1<>1 LIMIT 1;

-- dbeaver: feature probe - pg_type.typcategory column exists (supportsSysTypCategoryColumn)
SELECT 1 FROM pg_catalog.pg_attribute s JOIN pg_catalog.pg_class p ON s.attrelid = p.oid JOIN pg_catalog.pg_namespace n ON p.relnamespace = n.oid WHERE p.relname = 'pg_type' AND n.nspname = 'pg_catalog' AND s.attname = 'typcategory';

-- dbeaver: data type cache, all namespaces (DBeaver 25.1.5 as logged)
SELECT t.oid,t.*,c.relkind,format_type(nullif(t.typbasetype, 0), t.typtypmod) as base_type_name, d.description FROM pg_catalog.pg_type t LEFT OUTER JOIN pg_catalog.pg_type et ON et.oid=t.typelem LEFT OUTER JOIN pg_catalog.pg_class c ON c.oid=t.typrelid LEFT OUTER JOIN pg_catalog.pg_description d ON t.oid=d.objoid WHERE t.typname IS NOT NULL AND (c.relkind IS NULL OR c.relkind = 'c') AND (et.typcategory IS NULL OR et.typcategory <> 'C');

-- dbeaver: data type cache per schema (PostgreDataTypeCache.prepareObjectsStatement, typnamespace = pg_catalog)
SELECT t.oid,t.*,c.relkind,format_type(nullif(t.typbasetype, 0), t.typtypmod) as base_type_name, d.description
FROM pg_catalog.pg_type t
LEFT OUTER JOIN pg_catalog.pg_type et ON et.oid=t.typelem 
LEFT OUTER JOIN pg_catalog.pg_class c ON c.oid=t.typrelid
LEFT OUTER JOIN pg_catalog.pg_description d ON t.oid=d.objoid
WHERE t.typname IS NOT NULL
AND (c.relkind IS NULL OR c.relkind = 'c') AND (et.typcategory IS NULL OR et.typcategory <> 'C')
AND t.typnamespace=11 ;

-- dbeaver: resolve data type by OID (PostgreDataTypeCache.resolveDataType)
SELECT t.oid,t.*,c.relkind,format_type(nullif(t.typbasetype, 0), t.typtypmod) as base_type_name FROM pg_catalog.pg_type t
LEFT OUTER JOIN pg_class c ON c.oid=t.typrelid
WHERE t.oid=25 ;

-- dbeaver: resolve data type by name (PostgreDataTypeCache.resolveDataType)
SELECT t.oid,t.*,format_type(nullif(t.typbasetype, 0), t.typtypmod) as base_type_name FROM pg_catalog.pg_type t
LEFT OUTER JOIN pg_class c ON c.oid=t.typrelid
WHERE t.typname='int8' ;

-- dbeaver: roles (PostgreDatabase.RoleCache)
SELECT a.oid,a.* FROM pg_catalog.pg_roles a 
ORDER BY a.oid;

-- dbeaver: access methods (PostgreDatabase.AccessMethodCache)
SELECT am.oid,am.* FROM pg_catalog.pg_am am 
ORDER BY am.oid;

-- dbeaver: encodings (PostgreDatabase.EncodingCache)
SELECT c.contoencoding as encid,pg_catalog.pg_encoding_to_char(c.contoencoding) as encname
FROM pg_catalog.pg_conversion c
GROUP BY c.contoencoding
ORDER BY 2
;

-- dbeaver: languages (PostgreDatabase.LanguageCache)
SELECT l.oid,l.* FROM pg_catalog.pg_language l 
ORDER BY l.oid;

-- dbeaver: tablespaces (PostgreDatabase.TablespaceCache)
SELECT t.oid,t.* FROM pg_catalog.pg_tablespace t 
ORDER BY t.oid;

-- dbeaver: collations of a schema (PostgreSchema.CollationCache)
SELECT c.oid,c.* FROM pg_catalog.pg_collation c 
WHERE c.collnamespace=16384
ORDER BY c.oid;

-- dbeaver: extensions of a schema (PostgreSchema.ExtensionCache)
SELECT e.oid,e.* FROM pg_catalog.pg_extension e 
WHERE e.extnamespace=16384
ORDER BY e.oid;

-- dbeaver: tables/views/sequences of a schema (TableCache, DBeaver 25/26 shape)
SELECT c.oid,c.*,d.description,pg_catalog.pg_get_expr(c.relpartbound, c.oid) as partition_expr,  pg_catalog.pg_get_partkeydef(c.oid) as partition_key 
FROM pg_catalog.pg_class c
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_class'::regclass
WHERE c.relnamespace=16384 AND c.relkind not in ('i','I','c');

-- dbeaver: single table lookup (TableCache.prepareLookupStatement with relname)
SELECT c.oid,c.*,d.description,pg_catalog.pg_get_expr(c.relpartbound, c.oid) as partition_expr,  pg_catalog.pg_get_partkeydef(c.oid) as partition_key 
FROM pg_catalog.pg_class c
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_class'::regclass
WHERE c.relnamespace=16384 AND c.relkind not in ('i','I','c') AND relname='orders';

-- dbeaver: table inheritance parents (older TableCache variant)
SELECT c.oid,c.*,d.description,(select array_agg(i.inhparent) from pg_catalog.pg_inherits i where i.inhrelid = c.oid) parents
FROM pg_catalog.pg_class c
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0
WHERE c.relnamespace=16384 AND c.relkind not in ('i','c');

-- dbeaver: all columns of a schema (TableCache children, DBeaver 25/26 shape)
SELECT c.relname,a.*,pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) as def_value,dsc.description,dep.objid
FROM pg_catalog.pg_attribute a
INNER JOIN pg_catalog.pg_class c ON (a.attrelid=c.oid)
LEFT OUTER JOIN pg_catalog.pg_attrdef ad ON (a.attrelid=ad.adrelid AND a.attnum = ad.adnum)
LEFT OUTER JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)
LEFT OUTER JOIN pg_depend dep on dep.refobjid = a.attrelid AND dep.deptype = 'i' and dep.refobjsubid = a.attnum and dep.classid = dep.refclassid
WHERE NOT a.attisdropped AND c.relkind not in ('i','I','c') AND c.relnamespace=16384 ORDER BY a.attnum;

-- dbeaver: columns of one table (TableCache children for a table)
SELECT c.relname,a.*,pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) as def_value,dsc.description,dep.objid
FROM pg_catalog.pg_attribute a
INNER JOIN pg_catalog.pg_class c ON (a.attrelid=c.oid)
LEFT OUTER JOIN pg_catalog.pg_attrdef ad ON (a.attrelid=ad.adrelid AND a.attnum = ad.adnum)
LEFT OUTER JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)
LEFT OUTER JOIN pg_depend dep on dep.refobjid = a.attrelid AND dep.deptype = 'i' and dep.refobjsubid = a.attnum and dep.classid = dep.refclassid
WHERE NOT a.attisdropped AND c.relkind not in ('i','I','c') AND c.oid=16391
ORDER BY a.attnum;

-- dbeaver: constraints of a schema (PostgreSchema.ConstraintCache)
SELECT c.oid,c.*,t.relname as tabrelname,rt.relnamespace as refnamespace,d.description, case when c.contype='c' then "substring"(pg_get_constraintdef(c.oid), 7) else null end consrc_copy
FROM pg_catalog.pg_constraint c
INNER JOIN pg_catalog.pg_class t ON t.oid=c.conrelid
LEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid=c.confrelid
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_constraint'::regclass
WHERE t.relnamespace=16384
ORDER BY c.oid;

-- dbeaver: constraints of one table (ConstraintCache forParent)
SELECT c.oid,c.*,t.relname as tabrelname,rt.relnamespace as refnamespace,d.description, case when c.contype='c' then "substring"(pg_get_constraintdef(c.oid), 7) else null end consrc_copy
FROM pg_catalog.pg_constraint c
INNER JOIN pg_catalog.pg_class t ON t.oid=c.conrelid
LEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid=c.confrelid
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_constraint'::regclass
WHERE c.conrelid=16391
ORDER BY c.oid;

-- dbeaver: indexes of one table (PostgreSchema.IndexCache)
SELECT i.*,i.indkey as keys,c.relname,c.relnamespace,c.relam,c.reltablespace,tc.relname as tabrelname,dsc.description,pg_catalog.pg_get_expr(i.indpred, i.indrelid) as pred_expr,pg_catalog.pg_get_expr(i.indexprs, i.indrelid, true) as expr,pg_catalog.pg_relation_size(i.indexrelid) as index_rel_size,pg_catalog.pg_stat_get_numscans(i.indexrelid) as index_num_scans FROM pg_catalog.pg_index i INNER JOIN pg_catalog.pg_class c ON c.oid=i.indexrelid INNER JOIN pg_catalog.pg_class tc ON tc.oid=i.indrelid LEFT OUTER JOIN pg_catalog.pg_description dsc ON i.indexrelid=dsc.objoid WHERE i.indrelid=16391 ORDER BY c.relname;

-- dbeaver: table statistics / sizes (properties panel)
select c.oid,pg_catalog.pg_total_relation_size(c.oid) as total_rel_size,pg_catalog.pg_relation_size(c.oid) as rel_size
FROM pg_class c
WHERE c.relnamespace=16384;

-- dbeaver: view definition (PostgreView source, oid of public.completed_orders; text approximate, not verified against DBeaver source)
SELECT pg_catalog.pg_get_viewdef(16393, true);
